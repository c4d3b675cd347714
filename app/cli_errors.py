"""What a failed command tells the operator: a line or two saying what to do, no traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from typer._click.core import Context as ClickContext  # typer carries its own click
from typer.core import TyperGroup
from typer.exceptions import TyperException

from app.github.client import GitHubRefused, GitHubUnavailable
from app.settings import Settings

VERBOSE_HINT = "(run again with --verbose for the traceback)"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from, bounded (a cycle cannot loop forever)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 20:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def shown_database(url: str) -> str:
    """DATABASE_URL without its password, fit to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable)"


def key_problem(settings: Settings) -> str | None:
    """Why the App's private key cannot sign GitHub's JWT, if it cannot."""
    try:
        key = settings.app_private_key()
    except OSError as exc:
        return f"PRIVATE_KEY_PATH cannot be read ({exc.strerror})"
    if key is None:
        return None
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError):
        return "PRIVATE_KEY is not a PEM private key (paste the whole .pem, newlines as \\n)"
    return None


def _github_refused(exc: GitHubRefused, settings: Settings) -> str:
    if exc.status == 401:
        return (
            "GitHub refused the App's credentials (401): check APP_ID and PRIVATE_KEY "
            "(the key must be one of this App's, not revoked)"
            + ("" if "api.github.com" in settings.github_api_url else " and GITHUB_API_URL")
        )
    if exc.status == 404 and "/installation" in str(exc):
        return (
            "GitHub answered 404: is the App installed on that repository, and is its name right?"
        )
    first = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"GitHub refused the request ({first}): check the repository and the App's permissions"


def explain(exc: BaseException, settings: Settings) -> str | None:
    """What to tell the operator about `exc`; None for a failure we do not recognise (a bug)."""
    for found in _chain(exc):
        if isinstance(found, GitHubRefused):
            return _github_refused(found, settings)
        if isinstance(found, GitHubUnavailable):
            if found.rate_limited and found.retry_at is not None:
                return f"GitHub's rate limit: try again after {found.retry_at:%H:%M} UTC"
            problem = key_problem(settings)
            if problem is not None:
                return problem
            return (
                f"GitHub cannot be reached at {settings.github_api_url} ({found}): "
                "check the network (or a proxy) and GITHUB_API_URL, then try again"
            )
        if isinstance(found, httpx.TransportError):
            return (
                f"GitHub cannot be reached at {settings.github_api_url}: "
                "check the network (or a proxy) and GITHUB_API_URL, then try again"
            )
        if isinstance(found, SQLAlchemyError | ConnectionError | socket.gaierror | TimeoutError):
            reason = str(getattr(found, "orig", None) or found).splitlines()[0][:160]
            return (
                f"the database cannot be reached at {shown_database(settings.database_url)} "
                f"({reason}): is it running, and is DATABASE_URL right?"
            )
    return None


class OperatorErrors(TyperGroup):
    """Known failures (GitHub, the database, credentials) in a line or two, not a traceback."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: ClickContext | None = None,
        **extra: Any,
    ) -> ClickContext:
        # `--verbose` belongs to the group, but people type it after the command too.
        if "--verbose" in args:
            args = ["--verbose", *(arg for arg in args if arg != "--verbose")]
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except Exception as exc:
            if ctx.params.get("verbose"):
                raise
            try:
                message = explain(exc, self.settings())
            except Exception:
                message = None  # the settings themselves fail: show the original error
            if message is None:
                raise
            typer.echo(f"error: {message}", err=True)
            typer.echo(VERBOSE_HINT, err=True)
            raise typer.Exit(1) from None

    def settings(self) -> Settings:
        """The settings a failure is explained against (the CLI's own seam)."""
        raise NotImplementedError
