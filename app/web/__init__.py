"""The web pages: dashboard, set-up, sign-in and metrics; they read, never decide."""
