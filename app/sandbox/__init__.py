"""The sandbox: a simulated GitHub in the process, for tests, benchmarks and trying the App."""
