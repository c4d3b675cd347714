"""uvicorn's HTTP protocol, with GitHub's deliveries answered inside it, before any ASGI."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.queue.replies import BUSY, TOO_LARGE, TOO_SLOW, Answer
from app.queue.webhooks import (
    Admitted,
    DeliveryHeaders,
    admit,
    refusal_before_body,
    start_store,
    stored_answer,
)

log = logging.getLogger("app.queue.webhooks")

SERVER_ERROR = Answer(500, "the delivery could not be handled; try again", connection="close")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# uvicorn's `--http` for it (the Dockerfile, `incident-flow serve`, the test processes).
IMPORT_PATH = "app.queue.delivery_protocol:DeliveryProtocol"


class DeliveryProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, except that `POST {webhook path}` is answered here.

    Through ASGI a delivery cost five times what checking its signature costs: a scope, a
    task and an event per request, two messages each way, every header re-checked, the
    answer written in two pieces. Here the body is gathered as it is parsed, checked,
    stored, and answered in one write. Everything else takes uvicorn's path unchanged, as
    does a delivery pipelined behind a response still pending (uvicorn keeps the order).
    Run it with `uvicorn --http app.queue.delivery_protocol:DeliveryProtocol` (what
    `incident-flow serve` and the Dockerfile do); without it, deliveries are served over
    ASGI (app/queue/webhooks.py: serve_delivery) with the same checks and answers.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flow_app = _incident_flow(self.app)
        path = getattr(self.flow_app, "webhook_path", None)
        self.delivery_path = (self.root_path + path).encode() if path else None

    def on_headers_complete(self) -> None:
        services = self._delivery_services()
        if services is None:
            super().on_headers_complete()
            return
        version = self.parser.get_http_version()
        delivery = Delivery(
            self, services, version, version != "1.0" and self.parser.should_keep_alive()
        )
        self.cycle = delivery  # type: ignore[assignment]
        delivery.begin(self.expect_100_continue)

    def _delivery_services(self) -> Any:
        if self.delivery_path is None or self.parser.get_method() != b"POST":
            return None
        if self.url.partition(b"?")[0] != self.delivery_path:
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # pipelined behind a pending response: uvicorn queues it in order
        if self.parser.should_upgrade() or self.limit_concurrency is not None:
            return None
        return getattr(self.flow_app.state, "services", None)

    def on_body(self, body: bytes) -> None:
        if isinstance(self.cycle, Delivery):
            self.cycle.on_body(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if isinstance(self.cycle, Delivery):
            self.cycle.on_complete()
        else:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(self.cycle, Delivery):
            self.cycle.lost()
        super().connection_lost(exc)


class _NoEvent:
    """What uvicorn sets on a lost connection's request; a delivery learns of it in lost()."""

    def set(self) -> None:
        pass


class Delivery:
    """One delivery on a connection: its body read under the gate, then checked, stored
    and answered in one write (the attributes uvicorn's protocol reads of a request)."""

    message_event = _NoEvent()

    def __init__(
        self, protocol: DeliveryProtocol, services: Any, version: str, keep_alive: bool
    ) -> None:
        self.protocol = protocol
        self.services = services
        self.version = version
        self.keep_alive = keep_alive
        self.headers = DeliveryHeaders.of(protocol.headers)
        self.gate = services.receiving.bodies
        self.chunks: list[bytes] = []
        self.size = 0
        self.reading = False
        self.response_complete = False
        self.disconnected = False

    def begin(self, expect_continue: bool) -> None:
        if (early := refusal_before_body(self.services.settings, self.headers)) is not None:
            self.answer(early)
        elif not self.gate.enter(self, self.too_slow):
            self.answer(BUSY)
        else:
            self.reading = True
            if expect_continue:
                self.protocol.transport.write(CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        if not self.reading:
            return  # answered already (too large, too many): the rest is read and dropped
        self.size += len(chunk)
        self.gate.held += len(chunk)
        if self.size > self.services.settings.max_body_bytes:
            self.answer(TOO_LARGE)
        elif self.gate.held > self.gate.most_bytes:
            self.answer(BUSY)
        else:
            self.chunks.append(chunk)

    def on_complete(self) -> None:
        if not self.reading:
            return
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._stop_reading()
        try:
            admitted = admit(self.services, self.headers, body)
        except Exception:
            log.exception("webhook delivery could not be checked")
            self.answer(SERVER_ERROR)
            return
        if isinstance(admitted, Answer):
            self.answer(admitted)
            return
        # Answered from the batch's commit, with no task of its own; at shutdown the server
        # waits for this connection, so a stored delivery is answered.
        start_store(self.services, admitted).add_done_callback(partial(self._stored, admitted))

    def _stored(self, admitted: Admitted, future: asyncio.Future[str]) -> None:
        try:
            answer = stored_answer(self.services, admitted, future)
        except Exception:
            log.exception("webhook delivery %s could not be stored", admitted.envelope.delivery_id)
            answer = SERVER_ERROR
        self.answer(answer)

    def too_slow(self) -> None:
        log.info("webhook body not complete in %.0f s: dropped", self.gate.seconds)
        self.answer(TOO_SLOW)

    def lost(self) -> None:
        if self.reading:
            log.info("webhook client disconnected before its body was complete")
        self._stop_reading()
        self.disconnected = True

    def _stop_reading(self) -> None:
        if self.reading:
            self.reading = False
            self.gate.held -= self.size
            self.gate.leave(self)
            self.chunks = []

    def answer(self, answer: Answer) -> None:
        """Write the whole response at once; close when either side asked to."""
        self._stop_reading()
        if self.response_complete:
            return
        self.response_complete = True
        protocol = self.protocol
        transport = protocol.transport
        if self.disconnected or transport.is_closing():
            return
        keep_alive = self.keep_alive and not answer.closes
        close = b"" if keep_alive or answer.closes else b"connection: close\r\n"
        server = _server_headers(protocol.server_state)
        transport.write(b"".join((answer.head, server, close, b"\r\n", answer.body)))
        if protocol.access_log:
            client = "{}:{}".format(*protocol.client) if protocol.client else ""
            protocol.access_logger.info(
                '%s - "POST %s HTTP/%s" %d',
                client,
                protocol.delivery_path.decode() if protocol.delivery_path else "",
                self.version,
                answer.status,
            )
        if not keep_alive:
            transport.close()
        protocol.on_response_complete()


_rendered: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")


def _server_headers(state: ServerState) -> bytes:
    """uvicorn's own headers (date, server), rendered once per second (as it renews them)."""
    global _rendered
    headers = state.default_headers
    if _rendered[0] is not headers:
        _rendered = (headers, b"".join(name + b": " + value + b"\r\n" for name, value in headers))
    return _rendered[1]


def _incident_flow(app: Any) -> Any:
    """The IncidentFlow app under uvicorn's wrappers (proxy headers, message logger)."""
    for _ in range(8):
        if app is None or (hasattr(app, "webhook_path") and hasattr(app, "state")):
            return app
        app = getattr(app, "app", None)
    return None
