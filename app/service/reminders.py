"""The on-call scheduler: queue a tick for each incident with something due (an escalation, a
reminder); the worker decides it in the incident's own queue and sends what is owed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from app.domain.timers import due
from app.github.client import GitHubApp
from app.github.config_source import ConfigSource
from app.queue.inbox import Envelope, Inbox
from app.service.oncall_routes import TICK_EVENT
from app.storage.bookkeeping import Bookkeeping
from app.storage.store import IncidentStore, Tracked

log = logging.getLogger(__name__)

LEASE = "reminders"


def tick_envelope(tracked: Tracked, key: str, now: datetime) -> Envelope:
    """The delivery for what is due: its id is the once-only claim (one per key, ever)."""
    incident = tracked.incident
    issue_key = f"{incident.repo_id}#{incident.number}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    payload = {
        "repository": {"id": incident.repo_id, "full_name": incident.repo},
        "installation": {"id": tracked.installation_id},
        "number": incident.number,
        "at": now.isoformat(),
    }
    return Envelope(
        delivery_id=f"tick:{issue_key}:{digest}",
        event=TICK_EVENT,
        action=None,
        installation_id=tracked.installation_id,
        repo=incident.repo,
        issue_key=issue_key,
        payload=json.dumps(payload),
    )


class ReminderScheduler:
    """Runs inside the service; a database lease lets one instance queue at a time."""

    def __init__(
        self,
        github: GitHubApp,
        books: Bookkeeping,
        store: IncidentStore,
        configs: ConfigSource,
        inbox: Inbox,
        *,
        interval_seconds: float = 60.0,
        holder: str | None = None,
        jobs: list[Callable[[], Awaitable[object]]] | None = None,
    ) -> None:
        self.github = github
        self.books = books
        self.store = store
        self.configs = configs
        self.inbox = inbox
        self.interval = interval_seconds
        self.holder = holder or f"reminders-{uuid.uuid4().hex[:12]}"
        self.jobs = list(jobs or [])  # other periodic work, run by the lease holder
        self.holding = False
        self._task: asyncio.Task[None] | None = None

    async def tick(self, now: datetime) -> list[str]:
        """Queue what is due at `now`; returns "repo#number:key" for each tick queued."""
        # The lease outlives a tick, so a slow tick is not joined by a second instance.
        self.holding = await self.books.lease(LEASE, self.holder, max(self.interval * 3, 60.0), now)
        if not self.holding:
            return []
        queued: list[str] = []
        for tracked in await self.store.unresolved():
            incident = tracked.incident
            try:
                client = self.github.installation(tracked.installation_id)
                loaded = await self.configs.get(client, incident.repo)
                key = due(incident, tracked.last_update_at, loaded.config, now)
                # A key queued before (by any instance) is not queued again.
                if key is not None and await self.inbox.store(tick_envelope(tracked, key, now)):
                    queued.append(f"{incident.repo}#{incident.number}:{key}")
            except Exception:
                log.exception("on-call tick for %s#%s failed", incident.repo, incident.number)
        return queued

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.holder)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick(datetime.now(UTC))
            except Exception:  # the database may be briefly unreachable; keep going
                log.exception("reminder tick failed")
            for job in self.jobs if self.holding else ():
                try:
                    await job()
                except Exception:
                    log.exception("scheduled job failed")
            await asyncio.sleep(self.interval)
