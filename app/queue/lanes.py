"""Settling a batch's lanes: which deliveries are incident work, queued, or done at receipt."""

from __future__ import annotations

from typing import Any

from app.queue.delivery import INCIDENT, NOT_AN_INCIDENT, OTHER, UNRELATED
from app.storage.db import UNFINISHED

# The payload kept for a delivery done at receipt (its row keeps the id, event, action,
# repository, issue, times and outcome).
SETTLED_BODY = ""


def incident_keys(rows: list[dict[str, Any]]) -> set[str]:
    """The issue keys whose incident record decides the row's lane (`repo_id#number`)."""
    keys = set()
    for row in rows:
        key = row["issue_key"]
        if row["lane"] != INCIDENT and key:
            repo, _, number = key.partition("#")
            if repo.isdigit() and number.isdigit():
                keys.add(key)
    return keys


def settle_lanes(
    rows: list[dict[str, Any]], unfinished: dict[str, int], known: set[str]
) -> set[str]:
    """Give each new row of a batch its lane, in arrival order; the issues whose unfinished
    rows in the database must move to the incident lane.

    `unfinished`: issue key -> the highest lane of its deliveries not finished yet.
    `known`: issue keys of known incidents and reports. An unrelated delivery is stored as
    done unless its issue is known or has work queued (which it must not overtake: it is
    queued behind it instead). An issue with incident work has all its queued work in the
    incident lane, so nothing of it waits in the other lane ahead of its incident work.
    """
    incident_issues = {
        row["issue_key"]
        for row in rows
        if row["issue_key"] and (row["lane"] == INCIDENT or row["issue_key"] in known)
    }
    queued = set(unfinished)
    for row in rows:
        key = row["issue_key"]
        if row["lane"] == UNRELATED:
            if key not in queued and key not in incident_issues:
                # Decided and recorded, without the body: nothing reads it again, and an
                # organisation's label traffic would otherwise fill the disk (SETTLED_BODY).
                row.update(
                    state="done",
                    outcome=NOT_AN_INCIDENT,
                    finished_at=row["received_at"],
                    payload=SETTLED_BODY,
                )
                continue
            row["lane"] = OTHER
        if key in incident_issues:
            row["lane"] = INCIDENT
        if key:
            queued.add(key)
    return {key for key in incident_issues if unfinished.get(key, INCIDENT) != INCIDENT}


# Per issue: the lane of its newest unfinished delivery, None when it has none. Lanes only
# ever fall along an issue's queue (0s, then 1s: promotion turns the 1s behind new incident
# work into 0s), so the newest one's lane is the highest, and one index seek finds it.
_LAST_LANE = (
    "SELECT lane FROM deliveries INDEXED BY ix_deliveries_unfinished"
    f" WHERE {UNFINISHED} AND issue_key = k.key ORDER BY seq DESC LIMIT 1"
)
# The other-lane tail of an issue's queue, behind its newest incident-lane delivery.
_PROMOTE = (
    f"UPDATE deliveries SET lane = {INCIDENT} WHERE {UNFINISHED} AND issue_key = ?"
    f" AND lane != {INCIDENT} AND seq > coalesce((SELECT seq FROM deliveries"
    f" INDEXED BY ix_deliveries_unfinished WHERE {UNFINISHED} AND issue_key = ?"
    f" AND lane = {INCIDENT} ORDER BY seq DESC LIMIT 1), 0)"
)


def sqlite_lookups(
    rows: list[dict[str, Any]],
) -> tuple[tuple[str, list[Any]] | None, tuple[str, list[Any]] | None]:
    """The two queries a batch's lanes are settled with on SQLite: each issue's newest
    unfinished lane, and which of the issues are known incidents."""
    keys = sorted({row["issue_key"] for row in rows if row["issue_key"]})
    if not keys:
        return None, None
    values = ", ".join("(?)" for _ in keys)
    unfinished = (f"WITH k(key) AS (VALUES {values}) SELECT k.key, ({_LAST_LANE}) FROM k", keys)
    asked = incident_keys(rows)
    if not asked:
        return unfinished, None
    repos = sorted({int(key.partition("#")[0]) for key in asked})
    numbers = sorted({int(key.partition("#")[2]) for key in asked})
    known = (
        "SELECT repo_id, number FROM incidents"
        f" WHERE repo_id IN ({', '.join('?' for _ in repos)})"
        f" AND number IN ({', '.join('?' for _ in numbers)})",
        [*repos, *numbers],
    )
    return unfinished, known


def last_lanes(found: Any) -> dict[str, int]:
    return {key: int(lane) for key, lane in found if lane is not None}


def known_keys(found: Any, rows: list[dict[str, Any]]) -> set[str]:
    return {f"{repo}#{number}" for repo, number in found} & incident_keys(rows)


def sqlite_promotions(keys: set[str]) -> list[tuple[str, list[Any]]]:
    return [(_PROMOTE, [key, key]) for key in sorted(keys)]


def settle_within(rows: list[dict[str, Any]]) -> list[str]:
    """`settle_lanes` for what a batch says of itself, for a statement that looks up the
    database for each row (PgWriter): an issue with incident work in the batch has all its
    rows there in the incident lane; an unrelated row behind another row of its issue in the
    batch is queued behind it. The issue keys whose queued rows move to the incident lane."""
    incident_issues = {row["issue_key"] for row in rows if row["lane"] == INCIDENT}
    incident_issues.discard(None)
    queued: set[str] = set()
    for row in rows:
        key = row["issue_key"]
        if key in incident_issues:
            row["lane"] = INCIDENT
        elif row["lane"] == UNRELATED and key in queued:
            row["lane"] = OTHER
        if key and row["lane"] != UNRELATED:
            queued.add(key)
    return sorted(incident_issues)
