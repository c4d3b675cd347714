"""`python -m app`: the command line (serve, and the operator commands)."""

from app.cli import main

main()
