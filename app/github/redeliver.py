"""Recovery of failed webhook deliveries, as GitHub recommends: find them, ask again.

GitHub never retries a failed delivery by itself. This lists the App's delivery log
(`GET /app/hook/deliveries`, JWT), skips GUIDs with a successful attempt or already in our
inbox, and requests a redelivery (`POST /app/hook/deliveries/{id}/attempts`) of the rest.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.durations import parse_duration
from app.github.client import GitHubApp, GitHubRefused, GitHubUnavailable
from app.queue.inbox import Inbox

log = logging.getLogger(__name__)

# GitHub keeps the delivery log for 3 days; older deliveries cannot be redelivered.
LOG_KEPT = timedelta(days=3)


def parse_since(text: str) -> timedelta:
    """`6h`, `30m`, `2d`, `90s` (a bare number is hours)."""
    try:
        return parse_duration(text.lower(), bare="h")
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (try 6h, 30m or 2d)") from None


def _when(delivery: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(delivery["delivered_at"]).replace("Z", "+00:00"))


def succeeded(delivery: dict[str, Any]) -> bool:
    code = delivery.get("status_code")
    return isinstance(code, int) and 200 <= code < 300


def to_redeliver(deliveries: list[dict[str, Any]], known: set[str]) -> list[dict[str, Any]]:
    """One attempt per GUID that never succeeded and that our inbox does not hold, newest."""
    by_guid: dict[str, list[dict[str, Any]]] = {}
    for delivery in deliveries:
        by_guid.setdefault(str(delivery["guid"]), []).append(delivery)
    chosen = []
    for guid, attempts in by_guid.items():
        if guid in known or any(succeeded(a) for a in attempts):
            continue
        chosen.append(max(attempts, key=_when))
    return sorted(chosen, key=_when)


@dataclass
class Report:
    listed: int = 0
    failed_guids: int = 0
    already_held: int = 0
    requested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.listed} deliveries listed, {self.failed_guids} failed, "
            f"{self.already_held} already in the inbox, {len(self.requested)} redelivered"
        )
        return text + (f", {len(self.errors)} errors" if self.errors else "")


async def redeliver_failed(
    github: GitHubApp, inbox: Inbox, since: timedelta, *, now: datetime | None = None
) -> Report:
    """Ask GitHub again for every delivery of the last `since` that never reached us."""
    cutoff = (now or datetime.now(UTC)) - min(since, LOG_KEPT)
    client = github.app_client()
    listed: list[dict[str, Any]] = []
    async for page in client.cursor_pages("/app/hook/deliveries"):
        recent = [d for d in page if _when(d) >= cutoff]
        listed += recent
        if len(recent) < len(page):
            break  # newest first: the rest of the log is older than the cutoff
    report = Report(listed=len(listed))
    failed_guids = {str(d["guid"]) for d in listed} - {
        str(d["guid"]) for d in listed if succeeded(d)
    }
    report.failed_guids = len(failed_guids)
    known = await inbox.known(sorted(failed_guids))
    report.already_held = len(known)
    for delivery in to_redeliver(listed, known):
        try:
            await client.request("POST", f"/app/hook/deliveries/{delivery['id']}/attempts")
            report.requested.append(str(delivery["guid"]))
        except (GitHubRefused, GitHubUnavailable) as exc:
            report.errors.append(f"{delivery['guid']}: {exc}")
    log.info("redelivery: %s", report.summary(), extra={"redelivered": report.requested})
    return report


async def keep_redelivering(
    github: GitHubApp, inbox: Inbox, since: timedelta, every: float
) -> None:
    """At start-up and then every `every` seconds; a failed round is logged and retried later."""
    while True:
        try:
            await redeliver_failed(github, inbox, since)
        except Exception:
            log.exception("redelivery round failed")
        await asyncio.sleep(every)
