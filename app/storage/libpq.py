"""libpq URL parameters (`?sslmode=require`, as managed PostgreSQL hands out) for asyncpg."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# asyncpg takes the libpq modes by name (and checks them); `ssl` is SQLAlchemy's own spelling.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SSL_FILES = ("sslrootcert", "sslcert", "sslkey")
# Query options of SQLAlchemy's asyncpg dialect itself: left in the URL for it.
_DIALECT_OPTIONS = frozenset({"prepared_statement_cache_size", "prepared_statement_name_func"})


@dataclass(frozen=True)
class AsyncpgConnect:
    """A URL SQLAlchemy's asyncpg dialect accepts, and the connect arguments libpq's meant."""

    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()  # libpq parameters asyncpg has no equivalent for


def for_asyncpg(database_url: str) -> AsyncpgConnect:
    """Move every libpq query parameter out of the URL: asyncpg's connect() takes none of
    them by name and fails on the first (`unexpected keyword argument 'sslmode'`)."""
    url = make_url(database_url)
    query = {key: _last(value) for key, value in url.query.items()}
    kept = {key: value for key, value in query.items() if key in _DIALECT_OPTIONS}
    args: dict[str, Any] = {}
    mode = query.get("sslmode") or query.get("ssl")
    files = {key: query[key] for key in _SSL_FILES if query.get(key)}
    if mode is not None or files:
        args["ssl"] = ssl_argument(mode or "prefer", files, query.get("sslpassword"))
    if query.get("connect_timeout"):
        timeout = float(query["connect_timeout"])
        if timeout > 0:  # libpq: 0 means wait forever; asyncpg's default then stands
            args["timeout"] = max(timeout, 2.0)  # libpq's minimum
    if query.get("application_name"):
        args["server_settings"] = {"application_name": query["application_name"]}
    if query.get("target_session_attrs"):
        args["target_session_attrs"] = query["target_session_attrs"]
    used = {"sslmode", "ssl", *_SSL_FILES, "sslpassword", "connect_timeout", "application_name"}
    used |= {"target_session_attrs", *_DIALECT_OPTIONS}
    dropped = tuple(sorted(key for key in query if key not in used))
    rebuilt = url.set(query=kept).render_as_string(hide_password=False)
    return AsyncpgConnect(rebuilt, args, dropped)


def ssl_argument(
    mode: str, files: dict[str, str], password: str | None = None
) -> str | bool | ssl.SSLContext:
    """asyncpg's `ssl` for a libpq `sslmode` (and its certificate files, if any)."""
    mode = mode.strip().lower()
    if mode in ("true", "false"):  # `?ssl=true` of SQLAlchemy's examples
        mode = "require" if mode == "true" else "disable"
    if mode not in SSL_MODES:
        raise ValueError(f"DATABASE_URL: unknown sslmode {mode!r} (one of {', '.join(SSL_MODES)})")
    if mode == "disable":
        return False
    if not files:
        return mode  # asyncpg implements the mode, with ~/.postgresql/root.crt as libpq does
    context = ssl.create_default_context(cafile=files.get("sslrootcert"))
    # libpq: `require` with a root certificate verifies the server as `verify-ca` does.
    verify = mode in ("verify-ca", "verify-full") or "sslrootcert" in files
    context.check_hostname = mode == "verify-full"
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if "sslcert" in files:
        context.load_cert_chain(files["sslcert"], files.get("sslkey"), password)
    return context


def _last(value: str | tuple[str, ...]) -> str:
    return value[-1] if isinstance(value, tuple) else value


def warn_dropped(connect: AsyncpgConnect) -> None:
    if connect.dropped:
        # Names only: a value (sslpassword) may be a secret.
        log.warning(
            "DATABASE_URL parameters with no asyncpg equivalent are ignored: %s",
            ", ".join(connect.dropped),
        )
