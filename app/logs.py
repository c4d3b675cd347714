"""Logging: text for people at a terminal, JSON lines for machines (LOG_FORMAT overrides)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from app.queue.inbox import Delivery

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# uvicorn attaches a copy of some messages with ANSI colour codes; neither format wants it.
_DROPPED = _STANDARD | {"color_message"}
FORMATS = ("auto", "json", "text")


# One-time codes and tokens that travel in URLs: OAuth and manifest `code`, `state`, the
# set-up `token`; the manifest code in its conversion path; chat webhooks' secret paths and tokens.
# Each pattern is linear: a literal prefix, then one negated character class.
_SECRETS = (
    (
        re.compile(
            r"([?&;](?:code|state|token|access_token|refresh_token|client_secret)=)[^&;#\s\"']*",
            re.IGNORECASE,
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"(/app-manifests/)[^/?\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(hooks\.slack\.com/services/)[^\s\"'?]+"), r"\1[redacted]"),
    # A Slack bot token (chat.slack_token), and a Discord webhook's secret path.
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), "[redacted]"),
    (re.compile(r"(/api/webhooks/)[^\s\"'?]+"), r"\1[redacted]"),
)
_PLAIN = (int, float, bool, type(None))


def redact(text: str) -> str:
    """`text` with every one-time code, token and secret URL path replaced by `[redacted]`."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _redacted_arg(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    text = value if isinstance(value, str) else str(value)  # e.g. httpx's URL objects
    clean = redact(text)
    return value if clean == text else clean


class RedactSecrets(logging.Filter):
    """Rewrites a record's arguments in place, keeping their shape (uvicorn's access
    formatter unpacks the argument tuple), so that no handler ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted_arg(arg) for key, arg in record.args.items()}
        if not isinstance(record.msg, str):
            return True
        if not record.args:
            record.msg = redact(record.msg)
        elif _SPLIT.search(record.msg):
            # "…?token=%s" with the bare token as argument: only the whole line shows it.
            record.msg, record.args = redact(record.getMessage()), None
        return True


_SPLIT = re.compile(r"(?:code|state|token|secret)=|app-manifests/|hooks\.slack\.com/", re.I)


# Loggers that print URLs: the access log (the query string), uvicorn's errors, httpx's
# request lines. A filter on the logger itself holds whatever handlers a deployment uses
# (uvicorn's own logging config gives the access log a handler that does not propagate).
URL_LOGGERS = ("uvicorn.access", "uvicorn.error", "httpx")


def install_redaction() -> None:
    """Put the redacting filter on the URL-printing loggers, once."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _DROPPED})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def _printable(text: str) -> str:
    """Control characters escaped: text from GitHub must not drive the reader's terminal."""
    return "".join(
        c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode() for c in text
    )


class TextFormatter(logging.Formatter):
    """One line for people: time, level, message, then the event's fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).astimezone()
        fields = " ".join(
            f"{k}={_printable(str(v))}" for k, v in record.__dict__.items() if k not in _DROPPED
        )
        line = f"{moment:%H:%M:%S} {record.levelname:<7} {_printable(record.getMessage())}"
        if fields:
            line += f"  {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def chosen_format(fmt: str, stream: TextIO) -> str:
    """`json` or `text`: `auto` (the default) gives text at a terminal, JSON otherwise."""
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    text = chosen_format(fmt, handler.stream) == "text"
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    # On the handler, it covers every logger that reaches it, ours included.
    handler.addFilter(RedactSecrets())
    install_redaction()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request's URL at INFO, and some URLs are secrets: the Slack webhook,
    # GitHub's one-time manifest code. Calls are counted in /metrics instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def start_line(*, port: int, public_url: str | None, configured: bool) -> str:
    """What to open once the service listens: the dashboard, or the set-up page and sandbox."""
    base = (public_url or f"http://127.0.0.1:{port}").rstrip("/") + "/"
    if configured:
        return f"Incident Flow on {base} — open {base} for the dashboard"
    return (
        f"Incident Flow on {base} — open the one-time set-up link printed next to register "
        "the App, "
        f"or {base}sandbox to try it without one"
    )


def delivery_fields(delivery: Delivery) -> dict[str, Any]:
    """The fields every log line about a delivery carries: id, event, repo and issue. They
    come from the delivery's parsed event, which the handler reuses (one parse)."""
    fields: dict[str, Any] = {"delivery_id": delivery.delivery_id, "event": delivery.event}
    try:
        event = delivery.parsed
    except ValueError:  # not an event (pydantic's errors are ValueErrors): read as plain JSON
        return _raw_fields(delivery.payload, fields)
    issue = event.parent_issue or event.issue
    if event.repository is not None and event.repository.full_name:
        fields["repo"] = event.repository.full_name
    if issue is not None and issue.number:
        fields["issue"] = issue.number
    return fields


def _raw_fields(payload_text: str, fields: dict[str, Any]) -> dict[str, Any]:
    try:
        payload = json.loads(payload_text)
    except ValueError:
        return fields
    repository = payload.get("repository") or {}
    issue = payload.get("parent_issue") or payload.get("issue") or {}
    if repository.get("full_name"):
        fields["repo"] = repository["full_name"]
    if issue.get("number"):
        fields["issue"] = issue["number"]
    return fields
