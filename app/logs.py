"""Logging: text for people at a terminal, JSON lines for machines (LOG_FORMAT overrides)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from app.inbox import Delivery

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# uvicorn attaches a copy of some messages with ANSI colour codes; neither format wants it.
_DROPPED = _STANDARD | {"color_message"}
FORMATS = ("auto", "json", "text")


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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def start_line(*, port: int, public_url: str | None, configured: bool) -> str:
    """What to open once the service listens: the dashboard, or the set-up page and sandbox."""
    base = (public_url or f"http://127.0.0.1:{port}").rstrip("/") + "/"
    if configured:
        return f"Incident Flow on {base} — open {base} for the dashboard"
    return (
        f"Incident Flow on {base} — open {base} to register the App, "
        f"or {base}sandbox to try it without one"
    )


def delivery_fields(delivery: Delivery) -> dict[str, Any]:
    """The fields every log line about a delivery carries: id, event, repo and issue."""
    fields: dict[str, Any] = {"delivery_id": delivery.delivery_id, "event": delivery.event}
    try:
        payload = json.loads(delivery.payload)
    except ValueError:
        return fields
    repository = payload.get("repository") or {}
    issue = payload.get("parent_issue") or payload.get("issue") or {}
    if repository.get("full_name"):
        fields["repo"] = repository["full_name"]
    if issue.get("number"):
        fields["issue"] = issue["number"]
    return fields
