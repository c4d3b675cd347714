"""Logging: JSON lines by default (one object per event), plain text with LOG_FORMAT=text."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.inbox import Delivery

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


# One-time codes and tokens that travel in URLs: OAuth and manifest `code`, `state`, the
# set-up `token`; the manifest code in its conversion path; a Slack webhook's secret path.
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
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler()
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    # On the handler, it covers every logger that reaches it, ours included.
    handler.addFilter(RedactSecrets())
    install_redaction()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request's URL at INFO, and some URLs are secrets: the Slack webhook,
    # GitHub's one-time manifest code. Calls are counted in /metrics instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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
