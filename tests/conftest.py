"""Shared fixtures: the fake GitHub, a service wired to it, signed deliveries, databases."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine

from app.domain.records import Incident
from app.main import create_app
from app.queue.delivery_protocol import IMPORT_PATH as DELIVERY_PROTOCOL
from app.queue.webhooks import signature_matches  # noqa: F401  (keeps the signer honest below)
from app.sandbox.github import FakeGitHub, new_private_key
from app.service.services import Services
from app.settings import Settings
from app.storage.db import deliveries, metadata, utcnow

SECRET = "test-secret"
# The repository most tests use, and the default status labels by their initials.
REPO = "octo/ops"
SP, ST, UI, RS, RV = (
    "status:stabilization-pending",
    "status:stabilized",
    "status:under-investigation",
    "status:resolved",
    "status:reviewed",
)
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def sign(body: bytes, secret: str = SECRET) -> str:
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture(scope="session")
def private_key() -> str:
    return new_private_key()


def _asyncpg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def _postgres_available() -> bool:
    engine = create_async_engine(_asyncpg(POSTGRES_URL))
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


async def _admin(statement: str) -> None:
    engine = create_async_engine(_asyncpg(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A database of this test run's own on the local server, so parallel runs never collide."""
    if not asyncio.run(_postgres_available()):
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {POSTGRES_URL}")
        yield None
        return
    name = f"incident_flow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def reset_postgres(url: str) -> None:
    engine = create_async_engine(_asyncpg(url))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))  # migrations start over
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> str:
    """Each database test runs on SQLite and on the local PostgreSQL (required in CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/incidents.db"
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (allowed outside CI only)")
    await reset_postgres(postgres_url)
    return postgres_url


@pytest.fixture
def fake() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
def settings_for(private_key: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(database_url: str | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "app_id": 1,
            "private_key": private_key,
            "webhook_secret": SECRET,
            "github_api_url": "https://api.github.test",
            "database_url": database_url or f"sqlite:///{tmp_path}/incidents.db",
            "settle_seconds": 0.0,
            "max_inline_wait_seconds": 0.05,
            "poll_seconds": 0.05,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@dataclass
class Harness:
    """A running service (worker driven by the test) wired to the fake GitHub."""

    fake: FakeGitHub
    services: Services
    client: httpx.AsyncClient
    delivered: list[str] = field(default_factory=list)

    async def post(
        self,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        delivery_id: str | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        all_headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(body, secret),
            "Content-Type": "application/json",
        }
        all_headers.update(headers or {})
        response = await self.client.post(
            self.services.settings.webhook_path, content=body, headers=all_headers
        )
        self.delivered.append(all_headers["X-GitHub-Delivery"])
        return response

    async def send(self, deliveries: list[tuple[str, dict[str, Any]]]) -> None:
        for event, payload in deliveries:
            response = await self.post(event, payload)
            assert response.status_code in (200, 202), response.text

    async def settle(self) -> None:
        assert self.services.worker is not None
        await self.services.worker.run_until_idle()

    async def backoff_passes(self) -> None:
        """Every retry's back-off runs out now (instead of waiting minutes for it)."""
        async with self.services.engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.state == "pending")
                .values(available_at=utcnow())
            )

    async def run(self, deliveries: list[tuple[str, dict[str, Any]]]) -> None:
        """Deliver, process everything, then feed back the echoes GitHub would send."""
        await self.send(deliveries)
        await self.settle()

    def labels(self, number: int, repo: str = "octo/ops") -> set[str]:
        return set(self.fake.issue(repo, number).labels)

    def bot_comments(self, number: int, repo: str = "octo/ops") -> list[str]:
        """The app's replies, without the status comment it keeps on every incident."""
        return self.fake.bot_replies(repo, number)

    def incident_issues(self, repo: str = "octo/ops") -> list[int]:
        """Numbers of the issues labelled `incident` (not retrospectives or other work)."""
        issues = self.fake.repos[repo].issues.values()
        return [i.number for i in issues if "incident" in i.labels]

    async def record(self, number: int, repo: str = "octo/ops") -> Incident | None:
        return await self.services.store.load(self.fake.repo(repo).id, number)

    async def echo(self) -> int:
        """Deliver the app's own echoes and process them; returns how many there were."""
        echoes = self.fake.take_echoes()
        await self.send(echoes)
        await self.settle()
        return len(echoes)


@pytest.fixture
async def harness_for(fake: FakeGitHub, settings_for):  # type: ignore[no-untyped-def]
    stack: list[Any] = []

    async def make(
        database_url: str | None = None, *, served: bool = False, **overrides: Any
    ) -> Harness:
        """`served`: over a real socket, uvicorn with the delivery protocol (as deployed),
        instead of straight into the ASGI app."""
        settings = settings_for(database_url, **overrides)
        app = create_app(
            settings, github_transport=httpx.ASGITransport(app=fake), start_worker=False
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        stack.append(lifespan)
        if served:
            server = await serve_in_loop(app)
            stack.append(server)
            client = httpx.AsyncClient(base_url=server.url)
        else:
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://app"
            )
        stack.append(client)
        return Harness(fake, app.state.services, client)

    yield make
    for item in reversed(stack):
        if isinstance(item, httpx.AsyncClient):
            await item.aclose()
        elif isinstance(item, LoopServer):
            await item.stop()
        else:
            await item.__aexit__(None, None, None)


class LoopServer:
    """uvicorn serving an app on this event loop, on a free port (lifespan run by the test)."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        self.server, self.task = server, task
        port = server.servers[0].sockets[0].getsockname()[1]
        self.host, self.port = "127.0.0.1", port
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)


async def serve_in_loop(app: Any, **config: Any) -> LoopServer:
    options = {"http": DELIVERY_PROTOCOL, "lifespan": "off", "log_config": None, **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **options))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return LoopServer(server, task)


@pytest.fixture
async def harness(harness_for) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    yield await harness_for()
