"""One illegal label move traced: the app files it runs, its transactions, its payload parses.

`python -m bench.trace_move` (not part of `make bench`): the service runs in this process
against the fake GitHub, on SQLite; an incident is declared, then its status label is moved
by hand from Stabilization pending to Resolved (illegal), which GitHub reports as two signed
deliveries, `labeled` then `unlabeled`. Each is traced from its webhook request until the
worker is done with it: the distinct files under app/ whose code ran (the fake GitHub's
apart), the database
transactions begun (the service's own, and the inbox's: store, claim, finish), and how many
times its payload was parsed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.payloads import Event
from app.main import create_app
from app.queue.inbox import Inbox
from app.queue.pg_writer import PgWriter
from app.queue.sqlite_writer import SqliteWriter
from app.sandbox.github import FakeGitHub, new_private_key
from app.service.services import Services
from app.settings import Settings
from tests.conftest import SECRET, sign

APP = str(Path(__file__).resolve().parent.parent / "app") + "/"
FAKE_GITHUB = APP + "sandbox/"  # GitHub's side of the calls, not the app's
REPO = "octo/ops"
SP, RS = "status:stabilization-pending", "status:resolved"
# The inbox's own transactions, by the method that runs them.
INBOX_STEPS = ("store", "claim", "finish", "retry", "bury")


@dataclass
class Trace:
    """What one delivery cost, from its webhook request until the worker is done with it."""

    name: str
    files: set[str] = field(default_factory=set)
    service_transactions: int = 0  # begun by the service (reads and saves), not the inbox
    inbox_transactions: Counter[str] = field(default_factory=Counter)
    parses: int = 0

    @property
    def transactions(self) -> int:
        return self.service_transactions + sum(self.inbox_transactions.values())

    def lines(self) -> list[str]:
        inbox = ", ".join(f"{step} {n}" for step, n in self.inbox_transactions.items())
        return [
            f"{self.name}:",
            f"  app files run         {len(self.files)}",
            f"  transactions          {self.transactions}"
            f" (the service's {self.service_transactions}; the inbox's: {inbox or 'none'})",
            f"  payload parses        {self.parses}",
            *(f"    {name}" for name in sorted(self.files)),
        ]


class Tracer:
    """Counts, while on, the app files run and the transactions begun, by who began them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.trace: Trace | None = None
        self.body: bytes = b""
        self.step: str | None = None  # the inbox method running now, if any
        sa_event.listen(engine.sync_engine, "begin", self._begun)

    def _begun(self, _conn: Any) -> None:
        if self.trace is None:
            return
        if self.step is None:
            self.trace.service_transactions += 1
        else:
            self.trace.inbox_transactions[self.step] += 1

    def _profile(self, frame: FrameType, event: str, _arg: Any) -> None:
        if self.trace is not None and event == "call":
            filename = frame.f_code.co_filename
            if filename.startswith(APP) and not filename.startswith(FAKE_GITHUB):
                self.trace.files.add(filename.removeprefix(APP))

    def parsed(self, text: Any) -> None:
        """A parse of `text`: counted when it is this delivery's payload."""
        if self.trace is None:
            return
        raw = text.encode() if isinstance(text, str) else bytes(text)
        if raw == self.body:
            self.trace.parses += 1

    @contextmanager
    def on(self, name: str, body: bytes) -> Iterator[Trace]:
        self.trace, self.body = Trace(name), body
        sys.setprofile(self._profile)
        try:
            yield self.trace
        finally:
            sys.setprofile(None)
            self.trace = None


@contextmanager
def counting(tracer: Tracer) -> Iterator[None]:
    """The payload parsers and the inbox's steps, wrapped to tell the tracer."""
    originals: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, wrapper: Any) -> None:
        originals.append((owner, name, owner.__dict__.get(name)))  # None: inherited
        setattr(owner, name, wrapper)

    loads = json.loads

    def counted_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        tracer.parsed(text)
        return loads(text, *args, **kwargs)

    validate_json = Event.model_validate_json

    def counted_validate(cls: type[Event], text: Any, *args: Any, **kwargs: Any) -> Event:
        tracer.parsed(text)
        return validate_json(text, *args, **kwargs)

    wrap(json, "loads", counted_loads)
    wrap(Event, "model_validate_json", classmethod(counted_validate))
    for step in INBOX_STEPS:
        wrap(Inbox, step, _inbox_step(tracer, step, getattr(Inbox, step)))
    # The receiver's batch store bypasses SQLAlchemy: one transaction a call.
    for writer, method in ((SqliteWriter, "_insert"), (PgWriter, "insert")):
        wrap(writer, method, _raw_store(tracer, getattr(writer, method)))
    try:
        yield
    finally:
        for owner, name, original in reversed(originals):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def _inbox_step(tracer: Tracer, step: str, method: Callable[..., Any]) -> Any:
    async def traced(self: Inbox, *args: Any, **kwargs: Any) -> Any:
        outer, tracer.step = tracer.step, step
        before = tracer.trace.inbox_transactions[step] if tracer.trace else 0
        try:
            result = await method(self, *args, **kwargs)
        finally:
            tracer.step = outer
        if step == "claim" and not result and tracer.trace is not None:
            # The worker's look for more once it is done: not this delivery's.
            tracer.trace.inbox_transactions[step] = before
        return result

    return traced


def _raw_store(tracer: Tracer, method: Callable[..., Any]) -> Any:
    def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        if tracer.trace is not None:
            tracer.trace.inbox_transactions["store"] += 1
        return method(self, *args, **kwargs)

    async def traced_async(self: Any, *args: Any, **kwargs: Any) -> Any:
        if tracer.trace is not None:
            tracer.trace.inbox_transactions["store"] += 1
        return await method(self, *args, **kwargs)

    return traced_async if asyncio.iscoroutinefunction(method) else traced


Running = tuple[FakeGitHub, Services, httpx.AsyncClient]


@asynccontextmanager
async def service(database_url: str) -> AsyncIterator[Running]:
    """The service in this process, its worker driven here, wired to a fresh fake GitHub."""
    fake = FakeGitHub()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        app_id=1,
        private_key=new_private_key(),
        webhook_secret=SECRET,
        github_api_url="https://api.github.test",
        database_url=database_url,
        settle_seconds=0.0,
        max_inline_wait_seconds=0.05,
        poll_seconds=0.05,
    )
    app = create_app(settings, github_transport=httpx.ASGITransport(app=fake), start_worker=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client,
    ):
        yield fake, app.state.services, client


async def deliver(services: Services, client: httpx.AsyncClient, event: str, body: bytes) -> None:
    """One signed delivery, then the worker until it is done with it."""
    response = await client.post(
        services.settings.webhook_path,
        content=body,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(body),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code in (200, 202), response.text
    assert services.worker is not None
    await services.worker.run_until_idle()


async def trace_move(database_url: str) -> list[Trace]:
    """Declare an incident, then move its status label illegally; a trace per delivery."""
    async with service(database_url) as (fake, services, client):
        issue, opened = fake.open_issue(REPO, labels=["incident", "severity:1"])
        for event, payload in opened:
            await deliver(services, client, event, json.dumps(payload).encode())
        for event, payload in fake.take_echoes():  # the declaration's own echoes
            await deliver(services, client, event, json.dumps(payload).encode())
        tracer = Tracer(services.engine)
        traces = []
        with counting(tracer):
            for event, payload in fake.label(REPO, issue.number, add=[RS], remove=[SP]):
                body = json.dumps(payload).encode()
                name = f"{event} {payload['action']} {payload['label']['name']}"
                with tracer.on(name, body) as trace:
                    await deliver(services, client, event, body)
                traces.append(trace)
        assert SP in fake.issue(REPO, issue.number).labels  # the move was put back
        return traces


def main() -> None:
    logging.getLogger().setLevel(logging.WARNING)  # the figures, not the service's log lines
    with tempfile.TemporaryDirectory() as tmp:
        traces = asyncio.run(trace_move(f"sqlite:///{tmp}/trace.db"))
    for trace in traces:
        print("\n".join(trace.lines()))


if __name__ == "__main__":
    main()
