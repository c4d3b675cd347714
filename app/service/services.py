"""The running service's parts, wired once at start-up and shared by routes and the worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.github.client import GitHubApp
from app.github.config_source import ConfigCache
from app.github.permissions import PermissionCache
from app.github.redeliver import keep_redelivering
from app.github.repo_installations import RepoInstallations
from app.github.sources import GitHubReads
from app.queue.body_gate import BodyGate
from app.queue.inbox import Inbox
from app.queue.retention import keep_pruning, kept_for
from app.queue.worker import Worker
from app.service.catch_up import CatchUp
from app.service.chat_post import Sender, environment_for
from app.service.notifiers import ChannelKit, channels
from app.service.reminders import ReminderScheduler
from app.service.responder import Responder
from app.service.routes import Router
from app.service.triage import Triage
from app.settings import Settings
from app.storage.alert_groups import AlertGroups
from app.storage.bookkeeping import Bookkeeping
from app.storage.chat_threads import ChatThreads
from app.storage.db import create_schema, reading
from app.storage.engine import make_engine
from app.storage.last_good import LastGoodConfigs
from app.storage.reads import ReadLog
from app.storage.store import IncidentStore
from app.web.metrics import CommandsSeen, Metrics

log = logging.getLogger(__name__)


@dataclass
class ReceiverLoad:
    """Signed webhook deliveries being stored right now: many at once is a burst, and the
    worker then leaves the CPU to the receiver (see Worker.busy). Bodies still being read
    (unsigned, as far as anyone knows) are bounded by their own gate and are not load."""

    inflight: int = 0
    burst_at: int = 4
    bodies: BodyGate = field(default_factory=BodyGate)

    def burst(self) -> bool:
        return self.inflight >= self.burst_at

    def stored(self, _future: object) -> None:
        """A delivery's store is over (written, refused or abandoned)."""
        self.inflight -= 1


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    inbox: Inbox
    store: IncidentStore
    github: GitHubApp | None
    responder: Responder | None
    worker: Worker | None
    extras: dict[str, Any] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    # How routes reach GitHub outside the App's clients (manifest conversion, OAuth).
    github_transport: httpx.AsyncBaseTransport | None = None
    # Long-running jobs of this instance (periodic redelivery), cancelled on close.
    background: list[asyncio.Task[None]] = field(default_factory=list)
    receiving: ReceiverLoad = field(default_factory=lambda: ReceiverLoad())
    triage: Triage = field(default_factory=Triage)
    # The alert receiver's: where the App is installed, and each alert group's incident.
    installations: RepoInstallations | None = None
    alert_groups: AlertGroups | None = None

    def notify_worker(self) -> None:
        if self.worker is not None:
            self.worker.notify()

    def metrics_received(self, event: str, stored: bool) -> None:
        self.metrics.delivery_received(event, stored)

    async def database_ok(self) -> bool:
        try:
            async with reading(self.engine) as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            log.exception("database check failed")
            return False

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        for task in self.background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.worker is not None:
            await self.worker.stop()
        for notifier in self.responder.notifiers if self.responder is not None else ():
            await notifier.drain()
        reminders = self.extras.get("reminders")
        if reminders is not None:
            await reminders.stop()
        if self.github is not None:
            await self.github.aclose()
        await self.inbox.close()
        await self.engine.dispose()


async def build_services(
    settings: Settings,
    *,
    github_transport: httpx.AsyncBaseTransport | None = None,
    start_worker: bool = True,
) -> Services:
    pool: dict[str, Any] = {}
    if not settings.async_database_url.startswith("sqlite"):
        # Room for every worker lane, the claim loop, webhook batches and page reads at once:
        # a connection beyond the pool is closed on return, and reconnecting (TLS tried
        # first) cost more than the work it was opened for.
        pool["pool_size"] = settings.worker_concurrency + 8
    engine = make_engine(settings.async_database_url, **pool)
    await create_schema(engine)
    inbox = Inbox(engine)
    receiving = ReceiverLoad()
    store = IncidentStore(engine)
    seen = CommandsSeen()
    metrics = Metrics(urlsplit(settings.github_api_url).path, commands_of=seen.pop)
    github: GitHubApp | None = None
    responder: Responder | None = None
    worker: Worker | None = None
    extras: dict[str, Any] = {}
    background: list[asyncio.Task[None]] = []
    triage = Triage()
    alert_groups = AlertGroups(engine)
    installations: RepoInstallations | None = None
    private_key = settings.app_private_key()
    if settings.app_id and private_key:
        github = GitHubApp(
            app_id=settings.app_id,
            private_key=private_key,
            base_url=settings.github_api_url,
            transport=github_transport,
            max_inline_wait=settings.max_inline_wait_seconds,
            on_response=metrics.github_response,
        )
        installations = RepoInstallations(github)
        # One instance (SQLite) keeps its reads in memory; several share them in the database.
        shared = engine if engine.dialect.name == "postgresql" else None
        readlog = ReadLog(shared=shared)
        books = Bookkeeping(engine)
        configs = ConfigCache(ttl=settings.config_ttl_seconds, keeper=LastGoodConfigs(engine))
        reads = GitHubReads(github, configs, PermissionCache())
        router = Router(
            reads, store, books, covered=readlog.covered, seen=seen.note, groups=alert_groups
        )
        sender = Sender(timeout=settings.notifier_timeout_seconds, registry=metrics.registry)
        kit = ChannelKit(sender, environment_for(settings), ChatThreads(engine))
        chats = channels(settings, kit)
        responder = Responder(
            github, reads, router, store, books, configs, readlog, [metrics, *chats]
        )
        catch_up = CatchUp(books, store, inbox)
        reminders = ReminderScheduler(
            github,
            books,
            store,
            configs,
            inbox,
            interval_seconds=settings.reminder_interval_seconds,
            jobs=[catch_up],
        )
        extras.update(configs=configs, catch_up=catch_up, reminders=reminders)
        extras["chat"] = sender  # what tests drain
        triage = Triage(configs.known_scheme, forget=configs.invalidate)
        worker = Worker(
            inbox,
            responder.handle,
            concurrency=settings.worker_concurrency,
            poll_seconds=settings.poll_seconds,
            lease_seconds=settings.lease_seconds,
            handler_timeout=settings.handler_timeout_seconds,
            max_attempts=settings.max_attempts,
            on_outcome=metrics.delivery_done,
            busy=receiving.burst,
        )
        if start_worker:
            if engine.dialect.name == "sqlite":
                # SQLite means one instance: whatever it had claimed died with the last run.
                await inbox.release_all()
            worker.start()
            reminders.start()
            background.append(
                asyncio.create_task(
                    keep_redelivering(
                        github,
                        inbox,
                        timedelta(hours=settings.redeliver_since_hours),
                        settings.redeliver_every_hours * 3600,
                    ),
                    name="redelivery",
                )
            )
            keep = kept_for(settings.delivery_retention_days, settings.redeliver_since_hours)
            if keep is not None:
                background.append(asyncio.create_task(keep_pruning(inbox, keep), name="retention"))
    else:
        log.warning("APP_ID and PRIVATE_KEY are not set: webhooks are not processed")
    return Services(
        settings,
        engine,
        inbox,
        store,
        github,
        responder,
        worker,
        extras,
        metrics=metrics,
        github_transport=github_transport,
        background=background,
        receiving=receiving,
        triage=triage,
        installations=installations,
        alert_groups=alert_groups,
    )
