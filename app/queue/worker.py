"""The worker: drains the inbox, one delivery at a time per issue, retrying with back-off."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from app.logs import delivery_fields
from app.queue.errors import Refused as GitHubRefused  # the GitHub client's errors subclass these
from app.queue.errors import Unavailable as GitHubUnavailable
from app.queue.inbox import Delivery, Inbox

log = logging.getLogger(__name__)

Handler = Callable[[Delivery], Awaitable[str]]

# Deliveries taken at a time while the receiver is in a burst.
BURST_BATCH = 2


class Abandoned(Exception):
    """A delivery whose attempts were all cut off unfinished: it is not tried again."""


# Refusals that may pass on another attempt: a token that expired or a clock that was off
# (401), a timeout or conflict on GitHub's side, a rate limit.
RETRYABLE_REFUSALS = frozenset({401, 408, 409, 425, 429})


def permanent(exc: Exception) -> bool:
    """A failure that no later attempt can mend: a payload that cannot be read or
    validated, or a request GitHub refused for good. Such a delivery is dead at once."""
    if isinstance(exc, Abandoned):
        return True
    if isinstance(exc, GitHubRefused):
        return 400 <= exc.status < 500 and exc.status not in RETRYABLE_REFUSALS
    return isinstance(exc, ValueError)  # pydantic's ValidationError and UnicodeError too


def backoff(attempts: int, cap: float = 300.0) -> float:
    """Seconds before the next attempt: doubling from 2 s, capped, with a little jitter."""
    return min(cap, 2.0**attempts) * random.uniform(0.8, 1.2)


class Worker:
    def __init__(
        self,
        inbox: Inbox,
        handler: Handler,
        *,
        concurrency: int = 8,
        poll_seconds: float = 0.5,
        lease_seconds: float = 60.0,
        handler_timeout: float = 240.0,
        max_attempts: int = 8,
        max_transient_attempts: int = 60,
        worker_id: str | None = None,
        on_outcome: Callable[[Delivery, str, float], None] | None = None,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        self.inbox = inbox
        self.handler = handler
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.handler_timeout = handler_timeout
        self.max_attempts = max_attempts
        self.max_transient_attempts = max_transient_attempts
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.on_outcome = on_outcome
        self.busy = busy
        self._wake = asyncio.Event()
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def notify(self) -> None:
        """A new delivery was stored: look for work now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.worker_id)
        self._heartbeat = asyncio.create_task(self._renew_leases())

    async def stop(self, *, drain_seconds: float = 5.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._inflight:
            await asyncio.wait(list(self._inflight.values()), timeout=drain_seconds)
        for task in (self._task, self._heartbeat, *self._inflight.values()):
            if task is not None:
                task.cancel()
        for task in (self._task, self._heartbeat):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def run_until_idle(self, timeout: float = 10.0) -> None:
        """Process until nothing is ready or in flight (tests and the replay CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await self.inbox.claim(
                self.worker_id, self.concurrency, self.lease_seconds, running=self._inflight
            )
            if not batch and not self._inflight:
                return
            for delivery in batch:
                self._spawn(delivery)
            if self._inflight:
                await asyncio.wait(list(self._inflight.values()), return_when="FIRST_COMPLETED")
        raise TimeoutError("the inbox did not drain in time")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                # Cleared before the claim, not after: a delivery that finishes or arrives
                # while the claim runs sets it again, and the wait below returns at once.
                self._wake.clear()
                capacity = self.concurrency - len(self._inflight)
                batch: list[Delivery] = []
                if capacity > 0 and self.busy is not None and self.busy():
                    await self._yield_to_receiver()
                    # Small steps while the burst lasts: a batch holds the loop meanwhile.
                    capacity = min(capacity, BURST_BATCH)
                if capacity > 0:
                    batch = await self.inbox.claim(
                        self.worker_id, capacity, self.lease_seconds, running=self._inflight
                    )
                for delivery in batch:
                    self._spawn(delivery)
                if len(batch) == capacity > 0:
                    continue
                # Every lane busy: the next finish wakes us. Lanes free but nothing ready:
                # sleep until the earliest retry is due, or the next poll.
                wait = self.poll_seconds if capacity <= len(batch) else await self._idle_wait()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly unreachable; keep the loop alive
                log.exception("worker loop error")
                await asyncio.sleep(self.poll_seconds)

    async def _yield_to_receiver(self, longest: float = 0.2) -> None:
        """In a burst of deliveries, answering GitHub comes first (it allows 10 s a
        delivery, and a delivery it counts as failed is not sent again): take the next batch
        when the burst pauses, or after `longest` at most, so processing never stops."""
        deadline = time.monotonic() + longest
        while self.busy is not None and self.busy() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _idle_wait(self) -> float:
        wait = self.poll_seconds
        next_at = await self.inbox.next_ready_at()
        if next_at is not None:
            wait = min(wait, max(0.005, (next_at - datetime.now(UTC)).total_seconds()))
        return wait

    def _spawn(self, delivery: Delivery) -> None:
        if delivery.seq in self._inflight:  # never run one delivery twice at once
            return
        task = asyncio.create_task(self._process(delivery))
        self._inflight[delivery.seq] = task
        task.add_done_callback(functools.partial(self._done, delivery.seq))

    def _done(self, seq: int, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(seq, None)
        self._wake.set()  # the next delivery of the same issue may be ready now

    async def _process(self, delivery: Delivery) -> None:
        started = time.monotonic()
        extra = delivery_fields(delivery)
        try:
            if delivery.abandoned >= self.max_attempts:
                # Its attempts were cut off, each time: it likely kills the process.
                raise Abandoned(f"{delivery.abandoned} attempts were cut off unfinished")
            outcome = await asyncio.wait_for(self.handler(delivery), timeout=self.handler_timeout)
        except GitHubUnavailable as exc:
            # Outages are waited out far longer than bugs: transient errors have their own bound.
            if not exc.rate_limited and delivery.attempts >= self.max_transient_attempts:
                await self.inbox.bury(delivery, self.worker_id, repr(exc))
                outcome = "dead"
            else:
                at = exc.retry_at or datetime.now(UTC) + timedelta(
                    seconds=backoff(delivery.attempts)
                )
                await self.inbox.retry(delivery, self.worker_id, repr(exc), at)
                outcome = "retry: github unavailable"
            log.warning("delivery %s: %s (%s)", delivery.delivery_id, outcome, exc, extra=extra)
        except Exception as exc:
            if permanent(exc) or delivery.attempts >= self.max_attempts:
                await self.inbox.bury(delivery, self.worker_id, repr(exc))
                outcome = "dead"
                log.exception("delivery %s is dead", delivery.delivery_id, extra=extra)
            else:
                at = datetime.now(UTC) + timedelta(seconds=backoff(delivery.attempts))
                await self.inbox.retry(delivery, self.worker_id, repr(exc), at)
                outcome = "retry"
                log.exception("delivery %s failed; will retry", delivery.delivery_id, extra=extra)
        else:
            await self.inbox.finish(delivery, self.worker_id, outcome)
        duration = time.monotonic() - started
        log.info(
            "processed",
            extra={**extra, "outcome": outcome, "duration_ms": round(duration * 1000, 1)},
        )
        if self.on_outcome:
            self.on_outcome(delivery, outcome, duration)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.inbox.renew(self.worker_id, list(self._inflight), self.lease_seconds)
            except Exception:
                log.exception("lease renewal failed")
