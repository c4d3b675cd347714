"""Seeded incidents for dashboard tests: a public and a private repository, all statuses."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.domain.followups import FollowUp, FollowUps
from app.domain.lifecycle import Severity, Status
from app.domain.records import Incident, TimelineEntry
from app.sandbox.github import FakeGitHub
from app.storage.store import IncidentStore, Saved

PUBLIC, PRIVATE = "octo/ops", "octo/secret"
SECRET_TITLE = "Payment keys leaked in logs"


def incident(
    repo_id: int,
    repo: str,
    number: int,
    title: str,
    severity: Severity | None,
    start: datetime,
    moves: list[tuple[Status, timedelta]],
    lead: str | None = None,
) -> Incident:
    """An incident recorded at `start` that then moved through `moves` (offsets from start)."""
    record = Incident(
        repo=repo,
        repo_id=repo_id,
        number=number,
        title=title,
        status=Status.STABILIZATION_PENDING,
        severity=severity,
        declared_at=start,
        declared_by="alice",
        lead=lead,
    ).noted(TimelineEntry(start, "alice", "declared", "Recorded", to_value="stabilization-pending"))
    for status, offset in moves:
        at = start + offset
        entry = TimelineEntry(
            at,
            "bob",
            "status",
            f"{record.status.display} → {status.display}",
            from_value=record.status.value,
            to_value=status.value,
        )
        record = record.moved_to(status, at).noted(entry)
    return record


async def seed(store: IncidentStore, fake: FakeGitHub, now: datetime) -> list[Incident]:
    public = fake.repo(PUBLIC)
    private = fake.repo(PRIVATE, private=True)
    private.permissions["carol"] = "read"
    h = timedelta(hours=1)
    records = [
        incident(
            public.id, PUBLIC, 1, "Search is down", Severity.CRITICAL, now - 2 * h, [], lead="alice"
        ),
        incident(
            public.id,
            PUBLIC,
            2,
            "Thumbnails are slow",
            Severity.MINOR,
            now - 30 * h,
            [(Status.STABILIZED, 3 * h)],
        ),
        incident(
            public.id,
            PUBLIC,
            3,
            "API 500s",
            Severity.MAJOR,
            now - 10 * 24 * h,
            [(Status.STABILIZED, h), (Status.RESOLVED, 20 * h)],
            lead="bob",
        ),
        incident(
            public.id,
            PUBLIC,
            4,
            "Login loop",
            Severity.CRITICAL,
            now - 40 * 24 * h,
            [
                (Status.STABILIZED, 0.5 * h),
                (Status.UNDER_INVESTIGATION, 2 * h),
                (Status.RESOLVED, 30 * h),
                (Status.REVIEWED, 100 * h),
            ],
            lead="carol",
        ),
        incident(
            public.id,
            PUBLIC,
            5,
            "Old outage",
            Severity.CRITICAL,
            now - 200 * 24 * h,
            [(Status.STABILIZED, 50 * h), (Status.RESOLVED, 500 * h)],
        ),
        incident(
            private.id, PRIVATE, 1, SECRET_TITLE, Severity.CRITICAL, now - 5 * h, [], lead="carol"
        ),
    ]
    for record in records:
        await store.save(record, installation_id=fake.installation_id)
    # Follow-ups: two open and one closed on a public incident, one open on the private one.
    public_followups = FollowUps(
        (
            FollowUp(10, "open", "Alert on queue depth", now - h),
            FollowUp(11, "closed", "Restart the workers", now - h),
            FollowUp(12, "open", "Runbook for search", now - 2 * h),
        ),
        complete=True,
    )
    private_followups = FollowUps((FollowUp(2, "open", "Rotate the keys", now - 3 * h),), True)
    await store.commit(
        [
            Saved(public.id, 1, followups=public_followups),
            Saved(private.id, 1, followups=private_followups),
        ],
        installation_id=fake.installation_id,
    )
    return records
