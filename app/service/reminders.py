"""Update reminders: mention the lead once per period an unresolved incident goes unupdated."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.domain.durations import format_duration
from app.github.client import GitHubApp, GitHubRefused
from app.github.config_source import ConfigSource
from app.storage.bookkeeping import Bookkeeping, OpenIncident

log = logging.getLogger(__name__)

LEASE = "reminders"


@dataclass(frozen=True)
class Reminder:
    key: str  # the comment's marker: one comment per overdue period
    body: str


def due_reminder(incident: OpenIncident, cadence: timedelta, now: datetime) -> Reminder | None:
    """The reminder owed at `now`, if no human has commented for longer than `cadence`.

    Periods count from the last human comment (or the recording): the first reminder comes
    one cadence after it, the next one cadence later, until someone posts an update.
    """
    since = max(incident.declared_at, incident.last_human_comment_at or incident.declared_at)
    periods = (now - since) // cadence
    if periods < 1:
        return None
    who = incident.lead or incident.declared_by
    severity = f"severity {int(incident.severity)}" if incident.severity else "this"
    body = (
        f"@{who} no one has posted an update on this incident for "
        f"{format_duration(now - since)}. The runbook asks for one every "
        f"{format_duration(cadence)} for a {severity} incident until it is resolved: what is "
        "known, what is being done, what comes next."
    )
    return Reminder(f"reminder:{int(since.timestamp())}:{periods}", body)


class ReminderScheduler:
    """Runs inside the service; a database lease lets one instance send at a time."""

    def __init__(
        self,
        github: GitHubApp,
        books: Bookkeeping,
        configs: ConfigSource,
        *,
        interval_seconds: float = 60.0,
        holder: str | None = None,
        jobs: list[Callable[[], Awaitable[object]]] | None = None,
    ) -> None:
        self.github = github
        self.books = books
        self.configs = configs
        self.interval = interval_seconds
        self.holder = holder or f"reminders-{uuid.uuid4().hex[:12]}"
        self.jobs = list(jobs or [])  # other periodic work, run by the lease holder
        self.holding = False
        self._task: asyncio.Task[None] | None = None

    async def tick(self, now: datetime) -> list[str]:
        """Send every reminder owed at `now`; returns "repo#number:key" for each one sent."""
        # The lease outlives a tick, so a slow tick is not joined by a second instance.
        self.holding = await self.books.lease(LEASE, self.holder, max(self.interval * 3, 60.0), now)
        if not self.holding:
            return []
        sent: list[str] = []
        for incident in await self.books.unresolved():
            if incident.installation_id is None:
                continue
            client = self.github.installation(incident.installation_id)
            try:
                loaded = await self.configs.get(client, incident.repo)
                reminder = due_reminder(
                    incident, loaded.config.updates.cadence(incident.severity), now
                )
                if reminder is None:
                    continue
                # The claim is the guarantee: exactly one instance posts each reminder.
                claim = f"{incident.repo_id}#{incident.number}:{reminder.key}"
                async with self.books.once(claim) as won:
                    if not won:
                        continue
                    try:
                        await client.post_comment(
                            incident.repo,
                            incident.number,
                            reminder.key,
                            reminder.body,
                            check_first=True,
                        )
                    except GitHubRefused as exc:
                        if exc.status not in (404, 410):
                            raise
                        # The issue is gone: keep the claim, so it is not tried every tick.
                        log.info("no reminder for %s#%s: %s", incident.repo, incident.number, exc)
                        continue
                sent.append(f"{incident.repo}#{incident.number}:{reminder.key}")
            except Exception:
                log.exception("reminder for %s#%s failed", incident.repo, incident.number)
        return sent

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
