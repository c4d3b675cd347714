"""The webhook receiver: verify, store durably, answer at once; the worker does the rest."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from app.domain.payloads import HANDLED_EVENTS, Receipt
from app.queue import inbox
from app.queue.body_gate import BodyGate
from app.queue.inbox import Envelope, InboxUnavailable
from app.queue.replies import (
    BUSY,
    DUPLICATE,
    NO_GITHUB_HEADERS,
    NOT_CONFIGURED,
    NOT_JSON,
    NOT_SIGNED,
    QUEUED,
    SETTLED,
    TOO_LARGE,
    TOO_SLOW,
    UNAVAILABLE,
    Answer,
)

log = logging.getLogger(__name__)

# Label deliveries wait a moment: one sidebar change sends labeled and unlabeled apart.
SETTLED_ACTIONS = frozenset({"labeled", "unlabeled"})


def signature_matches(secret: str, body: bytes, signature: str | bytes | None) -> bool:
    """Constant-time check of `X-Hub-Signature-256` over the raw body."""
    if not signature:
        return False
    if isinstance(signature, str):
        signature = signature.encode("latin-1", errors="replace")
    if not signature.startswith(b"sha256="):
        return False
    expected = b"sha256=" + hmac.digest(secret.encode(), body, hashlib.sha256).hex().encode()
    return hmac.compare_digest(expected, signature)


class DeliveryHeaders(NamedTuple):
    """The four request headers the receiver reads, as sent (bytes)."""

    length: bytes | None = None
    event: bytes | None = None
    delivery: bytes | None = None
    signature: bytes | None = None

    @classmethod
    def of(cls, raw: Iterable[tuple[bytes, bytes]]) -> DeliveryHeaders:
        """From a request's header list (names lower-cased, as servers hand them over)."""
        found: list[bytes | None] = [None, None, None, None]
        for name, value in raw:
            at = _WANTED.get(name)
            if at is not None and found[at] is None:
                found[at] = value
        return cls(*found)


_WANTED = {
    name: at
    for at, name in enumerate(
        (b"content-length", b"x-github-event", b"x-github-delivery", b"x-hub-signature-256")
    )
}


class Admitted(NamedTuple):
    """A signed, well-formed delivery, ready to store."""

    envelope: Envelope
    delay: float


def refusal_before_body(settings: Any, headers: DeliveryHeaders) -> Answer | None:
    """What is refused before a byte of the body is read."""
    if not settings.webhook_secret:
        return NOT_CONFIGURED
    declared = headers.length
    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
        return TOO_LARGE
    return None


def admit(services: Any, headers: DeliveryHeaders, body: bytes) -> Answer | Admitted:
    """Check a whole body: its answer when it goes no further, else what to store."""
    # Nothing is read from the body before its signature is checked.
    if not signature_matches(services.settings.webhook_secret, body, headers.signature):
        return NOT_SIGNED
    if not headers.event or not headers.delivery or len(headers.delivery) > 64:
        return NO_GITHUB_HEADERS
    event_name = headers.event.decode("latin-1")
    delivery_id = headers.delivery.decode("latin-1")
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
    delay = services.settings.settle_seconds if event.action in SETTLED_ACTIONS else 0.0
    return Admitted(envelope, delay)


def start_store(services: Any, admitted: Admitted) -> asyncio.Future[str]:
    """Send an admitted delivery to the inbox's next batch: the future of its verdict."""
    # Only signed deliveries count as load (the worker yields to a burst of them).
    services.receiving.inflight += 1
    future: asyncio.Future[str] = services.inbox.store_soon(admitted.envelope, delay=admitted.delay)
    future.add_done_callback(services.receiving.stored)
    return future


def stored_answer(services: Any, admitted: Admitted, future: asyncio.Future[str]) -> Answer:
    """The answer once the delivery's batch is written (or refused)."""
    envelope = admitted.envelope
    try:
        verdict = future.result()
    except InboxUnavailable as exc:
        # GitHub's redelivery (app/redeliver.py) brings it back once the database recovers.
        log.warning("delivery %s not stored: %s", envelope.delivery_id, exc)
        return UNAVAILABLE
    answer = _ANSWERS[verdict]
    services.metrics_received(envelope.event, answer is not DUPLICATE)
    if answer is QUEUED and not admitted.delay:
        # A delayed delivery is not ready yet; the worker's own timer picks it up.
        services.notify_worker()
    return answer


# The inbox's verdict on a stored delivery, as the receiver answers it.
_ANSWERS = {inbox.QUEUED: QUEUED, inbox.SETTLED: SETTLED, inbox.DUPLICATE: DUPLICATE}


async def store(services: Any, admitted: Admitted) -> Answer:
    """Store an admitted delivery durably; the answer says how it went."""
    future = start_store(services, admitted)
    with contextlib.suppress(Exception):
        await future
    return stored_answer(services, admitted, future)


async def receive_delivery(
    raw_headers: Iterable[tuple[bytes, bytes]], receive: Receive, services: Any
) -> Answer | None:
    """Verify, store and answer one delivery over ASGI (the whole receiver, framework-free).

    None: the client went away before its body was complete, and gets no answer.
    """
    headers = DeliveryHeaders.of(raw_headers)
    if (early := refusal_before_body(services.settings, headers)) is not None:
        return early
    body = await read_body(receive, services.settings.max_body_bytes, services.receiving.bodies)
    if not isinstance(body, bytes):
        return body
    admitted = admit(services, headers, body)
    if isinstance(admitted, Answer):
        return admitted
    return await store(services, admitted)


async def read_body(receive: Receive, limit: int, gate: BodyGate) -> bytes | Answer | None:
    """The whole body, or the answer when it is too large, too slow or one too many."""
    task = asyncio.current_task()
    assert task is not None
    if not gate.enter(task):
        return BUSY
    chunks: list[bytes] = []
    size = 0
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
        services = request.app.state.services
        answer = await receive_delivery(request.scope["headers"], request.receive, services)
        return answer.response() if answer is not None else Response(status_code=400)

    return router


async def serve_delivery(scope: Scope, receive: Receive, send: Send, services: Any) -> None:
    """Serve `POST {webhook path}` as raw ASGI, ahead of routing and every middleware.

    Under `incident-flow serve` (and the Dockerfile) uvicorn's own protocol answers
    deliveries before ASGI (app/queue/delivery_protocol.py); this is the path for any other
    server. The FastAPI route above declares the same endpoint for the OpenAPI description.
    """
    answer = await receive_delivery(scope["headers"], receive, services)
    if answer is not None:
        await answer.send(send)
