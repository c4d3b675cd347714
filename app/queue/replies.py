"""The receivers' replies: a status and a one-line JSON message, rendered once."""

from __future__ import annotations

import http
import json

from fastapi.responses import Response
from starlette.types import Send


class Answer:
    """A receiver's reply: a status and a one-line message, rendered once per message."""

    __slots__ = ("body", "closes", "extra", "head", "headers", "status")

    def __init__(self, status: int, message: str, **extra: str) -> None:
        self.status = status
        self.body = json.dumps({"message": message}).encode()
        # Extra headers by keyword: retry_after="10" is `retry-after: 10`.
        self.extra = {name.replace("_", "-"): value for name, value in extra.items()}
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            *((name.encode(), value.encode()) for name, value in self.extra.items()),
        ]
        self.closes = self.extra.get("connection") == "close"
        # For a raw connection: the status line and these headers (the server adds its
        # own, then the blank line and the body).
        phrase = http.HTTPStatus(status).phrase
        self.head = f"HTTP/1.1 {status} {phrase}\r\n".encode() + b"".join(
            name + b": " + value + b"\r\n" for name, value in self.headers
        )

    def response(self) -> Response:
        return Response(
            self.body, status_code=self.status, media_type="application/json", headers=self.extra
        )

    async def send(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status, "headers": self.headers}
        await send(start)
        await send({"type": "http.response.body", "body": self.body})


# The replies every delivery gets, built once: most of a receiver's work is answering.
QUEUED = Answer(202, "queued")
DUPLICATE = Answer(200, "delivery already received")
SETTLED = Answer(202, "stored; not about an incident")
NOT_JSON = Answer(400, "body is not JSON")
NOT_SIGNED = Answer(401, "signature missing or wrong")
NO_GITHUB_HEADERS = Answer(400, "X-GitHub-Event and X-GitHub-Delivery are required")
TOO_LARGE = Answer(413, "body too large")
BUSY = Answer(503, "too many bodies being received; try again", retry_after="10")
TOO_SLOW = Answer(408, "body not received in time", connection="close")
UNAVAILABLE = Answer(503, "the database cannot take writes now; try again", retry_after="60")
NOT_CONFIGURED = Answer(503, "the app is not configured yet: no WEBHOOK_SECRET")
