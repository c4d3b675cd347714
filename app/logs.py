"""Logging: JSON lines by default (one object per event), plain text with LOG_FORMAT=text."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.inbox import Delivery

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


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
