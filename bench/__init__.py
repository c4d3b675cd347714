"""`make bench`: the figures in BENCHMARKS.md, measured on this machine (not a timed test)."""
