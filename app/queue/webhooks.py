"""The webhook receiver: verify, store durably, answer at once; the worker does the rest."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from app.domain.payloads import HANDLED_EVENTS, Receipt
from app.queue.inbox import Envelope, InboxUnavailable

log = logging.getLogger(__name__)

# Label deliveries wait a moment: one sidebar change sends labeled and unlabeled apart.
SETTLED_ACTIONS = frozenset({"labeled", "unlabeled"})


def signature_matches(secret: str, body: bytes, signature: str | None) -> bool:
    """Constant-time check of `X-Hub-Signature-256` over the raw body."""
    if not signature or not signature.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


class Answer:
    """A receiver's reply: a status and a one-line message, rendered once per message."""

    __slots__ = ("body", "extra", "headers", "status")

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

    def response(self) -> Response:
        return Response(
            self.body, status_code=self.status, media_type="application/json", headers=self.extra
        )

    async def send(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status, "headers": self.headers}
        await send(start)
        await send({"type": "http.response.body", "body": self.body})


class BodyGate:
    """Bodies being read, before their signature can be checked: anyone may send one, so
    they are bounded in number, in bytes held at once, and in time (a slow body is cut off).

    One timer sweeps every reader, rather than a timer per request: the receiver's cost per
    delivery stays a counter's.
    """

    def __init__(
        self, *, most: int = 100, most_bytes: int = 64 * 1024 * 1024, seconds: float = 10.0
    ) -> None:
        self.most = most
        self.most_bytes = most_bytes
        self.seconds = seconds
        self.held = 0  # bytes of bodies being read
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._cut: set[asyncio.Task[Any]] = set()
        self._sweep: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._reading)

    def enter(self, task: asyncio.Task[Any]) -> bool:
        if len(self._reading) >= self.most:
            return False
        self._reading[task] = time.monotonic()
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self._every(), self._cut_slow)
        return True

    def leave(self, task: asyncio.Task[Any]) -> None:
        del self._reading[task]
        self._cut.discard(task)

    def was_cut(self, task: asyncio.Task[Any]) -> bool:
        """Whether this reader's cancellation is the gate's (not the server shutting down)."""
        return task in self._cut

    def _every(self) -> float:
        return min(1.0, max(0.02, self.seconds / 10))

    def _cut_slow(self) -> None:
        self._sweep = None
        too_old = time.monotonic() - self.seconds
        for task, started in list(self._reading.items()):
            if started <= too_old and task not in self._cut:
                self._cut.add(task)
                task.cancel()
        if self._reading:
            self._sweep = asyncio.get_running_loop().call_later(self._every(), self._cut_slow)


# The replies every delivery gets, built once: most of a receiver's work is answering.
QUEUED = Answer(202, "queued")
DUPLICATE = Answer(200, "delivery already received")
SETTLED = Answer(202, "stored; not about an incident")
NOT_JSON = Answer(400, "body is not JSON")
TOO_LARGE = Answer(413, "body too large")
BUSY = Answer(503, "too many bodies being received; try again", retry_after="10")
TOO_SLOW = Answer(408, "body not received in time", connection="close")
UNAVAILABLE = Answer(503, "the database cannot take writes now; try again", retry_after="60")


async def receive_delivery(request: Request, services: Any) -> Answer | None:
    """Verify, store and answer one delivery (the whole receiver, framework-free).

    None: the client went away before its body was complete, and gets no answer.
    """
    settings = services.settings
    if not settings.webhook_secret:
        return Answer(503, "the app is not configured yet: no WEBHOOK_SECRET")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
        return TOO_LARGE
    body = await read_body(request, settings.max_body_bytes, services.receiving.bodies)
    if not isinstance(body, bytes):
        return body
    # Nothing is read from the body before its signature is checked.
    if not signature_matches(
        settings.webhook_secret, body, request.headers.get("x-hub-signature-256")
    ):
        return Answer(401, "signature missing or wrong")
    # Only signed deliveries count as load (the worker yields to a burst of them).
    services.receiving.inflight += 1
    try:
        return await _receive(request, services, body)
    finally:
        services.receiving.inflight -= 1


async def read_body(request: Request, limit: int, gate: BodyGate) -> bytes | Answer | None:
    """The whole body, or the answer when it is too large, too slow or one too many."""
    task = asyncio.current_task()
    assert task is not None
    if not gate.enter(task):
        return BUSY
    chunks: list[bytes] = []
    size = 0
    receive = request.receive  # Request.stream's loop, without an async generator per body
    more = True
    try:
        while more:
            message = await receive()
            if message["type"] != "http.request":
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                continue
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            gate.held += len(chunk)
            if size > limit:
                return TOO_LARGE
            if gate.held > gate.most_bytes:
                return BUSY
            chunks.append(chunk)
    except asyncio.CancelledError:
        if not gate.was_cut(task):
            raise
        task.uncancel()
        log.info("webhook body not complete in %.0f s: dropped", gate.seconds)
        return TOO_SLOW
    except ClientDisconnect:
        log.info("webhook client disconnected before its body was complete")
        return None
    finally:
        gate.held -= size
        gate.leave(task)
    return b"".join(chunks)


async def _receive(request: Request, services: Any, body: bytes) -> Answer:
    settings = services.settings
    event_name = request.headers.get("x-github-event")
    delivery_id = request.headers.get("x-github-delivery")
    if not event_name or not delivery_id or len(delivery_id) > 64:
        return Answer(400, "X-GitHub-Event and X-GitHub-Delivery are required")
    if event_name not in HANDLED_EVENTS:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return NOT_JSON
        if not isinstance(payload, dict):
            return Answer(400, "body is not a JSON object")
        if event_name == "ping":
            return Answer(200, "pong")
        return Answer(202, f"event {event_name} is not used; ignored")
    try:
        # Parsed and checked in one pass (pydantic's own JSON parser, in Rust).
        event = Receipt.model_validate_json(body)
    except ValidationError as exc:
        if not _json_invalid(exc):
            return _refusal(event_name, exc)
        # That parser refuses some JSON the standard one takes (an escaped lone surrogate
        # in a comment, say): only what neither reads is refused as not JSON.
        try:
            event = Receipt.model_validate(json.loads(body))
        except (ValueError, RecursionError):
            return NOT_JSON
        except ValidationError as again:
            return _refusal(event_name, again)
    envelope = Envelope(
        delivery_id=delivery_id,
        event=event_name,
        action=event.action,
        installation_id=event.installation.id if event.installation else None,
        repo=event.repository.full_name if event.repository else None,
        issue_key=event.issue_key(),
        payload=body.decode("utf-8", errors="replace"),
        # Incident work first; what cannot concern one is decided in the storing batch.
        lane=services.triage.lane(event_name, event, body),
    )
    if oversized := envelope.oversized():
        return Answer(400, "fields too long: " + ", ".join(oversized))
    delay = settings.settle_seconds if event.action in SETTLED_ACTIONS else 0.0
    try:
        verdict = await services.inbox.store_verdict(envelope, delay=delay)
    except InboxUnavailable as exc:
        # GitHub's redelivery (app/redeliver.py) brings it back once the database recovers.
        log.warning("delivery %s not stored: %s", delivery_id, exc)
        return UNAVAILABLE
    services.metrics_received(event_name, verdict != "duplicate")
    if verdict == "duplicate":
        return DUPLICATE
    if verdict == "settled":
        return SETTLED
    if not delay:
        # A settled delivery is not ready yet; the worker's own timer picks it up.
        services.notify_worker()
    return QUEUED


def _json_invalid(exc: ValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors(include_url=False))


def _refusal(event_name: str, exc: ValidationError) -> Answer:
    """Why a handled event's body was refused: not an object, or the wrong shape."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if any(error["type"] == "model_type" and not error["loc"] for error in errors):
        return Answer(400, "body is not a JSON object")
    return Answer(400, f"payload does not fit a {event_name} event: {len(errors)} errors")


def make_router(path: str) -> APIRouter:
    router = APIRouter()

    @router.post(
        path,
        status_code=202,
        summary="Receive a GitHub webhook delivery",
        responses={
            200: {"description": "ping, or a delivery already stored"},
            400: {"description": "not JSON, or GitHub headers missing"},
            401: {"description": "missing or wrong signature"},
            408: {"description": "body not complete within 10 s"},
            413: {"description": "body too large"},
            503: {"description": "too many bodies at once, or the database cannot take writes"},
        },
    )
    async def receive(request: Request) -> Response:
        answer = await receive_delivery(request, request.app.state.services)
        return answer.response() if answer is not None else Response(status_code=400)

    return router


async def serve_delivery(scope: Scope, receive: Receive, send: Send, services: Any) -> None:
    """Serve `POST {webhook path}` as raw ASGI, ahead of routing and every middleware.

    GitHub allows 10 s per delivery but bursts arrive together: the receiver should cost
    little more than checking the signature and storing. The FastAPI route above declares
    the same endpoint for the OpenAPI description and serves it before the services exist.
    """
    answer = await receive_delivery(Request(scope, receive), services)
    if answer is not None:
        await answer.send(send)
