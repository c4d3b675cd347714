"""The command line: `serve` runs the service (what `make run` runs)."""

from __future__ import annotations

import argparse

import uvicorn

from app.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="incident-flow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "serve":
        settings = get_settings()
        uvicorn.run(
            "app.main:app",
            host=args.host,
            port=args.port or settings.port,
            log_config=None,
            proxy_headers=True,
        )
