"""End to end: lead duty through the fake GitHub, the lead choice it feeds, and its pages."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Harness
from tests.seed import PRIVATE, seed
from tests.test_dashboard import CLIENT, sign_in
from tests.test_followup_e2e import CONFIG, REPO, declare, record, say, triage

POOL = "lead:\n  maintainers: [carol, dave, erin]\n"


def people(data: dict[str, Any], days: int) -> dict[str, dict[str, Any]]:
    (window,) = [w for w in data["windows"] if w["days"] == days]
    return {p["login"]: p for p in window["people"]}


async def test_a_hand_over_is_credited_to_both_and_the_next_lead_reads_it(
    harness: Harness,
) -> None:
    fake = harness.fake
    # GitHub's clock two days back from now: the dashboard counts up to the real now.
    fake.now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    fake.repo(REPO).files[CONFIG] = POOL
    triage(harness, "carol", "dave")
    first = await declare(harness, severity=1)
    assert (await record(harness, first)).lead == "carol"  # nobody has led: listed first
    fake.tick(hours=1)
    await say(harness, first, "/lead @dave", actor="carol")
    fake.tick(hours=2)
    await say(harness, first, "/stabilized", actor="dave")
    fake.tick(hours=1)
    await say(harness, first, "/resolved", actor="dave")

    # carol handed over, and still led an incident: erin, who never led, is next.
    second = await declare(harness, severity=2)
    assert (await record(harness, second)).lead == "erin"
    assert "maintainer who has not led yet" in (await record(harness, second)).timeline[-1].detail

    data = (await harness.client.get("/api/leads")).json()
    assert [w["days"] for w in data["windows"]] == [30, 90, 365]
    month = people(data, 30)
    assert list(month) == ["erin", "dave", "carol"]  # the most hours first
    assert (month["carol"]["incidents"], month["carol"]["hours"]) == (1, 1.0)
    assert (month["dave"]["incidents"], month["dave"]["hours"]) == (1, 3.0)
    assert month["dave"]["by_severity"][0] == {"severity": 1, "incidents": 1, "hours": 3.0}
    erin = month["erin"]["by_severity"]
    assert erin[1]["severity"] == 2 and erin[1]["incidents"] == 1
    assert 43.9 < erin[1]["hours"] < 44.1  # still leading: up to now

    page = (await harness.client.get("/leads")).text
    assert "Lead duty, last 90 days" in page and "<svg" in page
    assert "<td>carol</td><td>1</td><td>1.0 h</td><td>1 · 1.0 h</td>" in page
    assert "Lead duty, last 30 days" in (await harness.client.get("/leads?days=30")).text
    # An unknown window is the default one, not an error.
    assert "last 90 days" in (await harness.client.get("/leads?days=7")).text
    assert '<a href="/leads">Lead duty</a>' in (await harness.client.get("/")).text


@pytest.fixture
async def board(harness_for) -> Harness:  # type: ignore[no-untyped-def]
    harness = await harness_for(**CLIENT)
    now = datetime.now(UTC)
    records = await seed(harness.services.store, harness.fake, now)
    # Two severity 1 incidents acknowledged 10 and 30 minutes after they were recorded.
    for found, minutes in ((records[0], 10), (records[3], 30)):
        acknowledged = replace(
            found, acknowledged_at=found.declared_at + timedelta(minutes=minutes)
        )
        await harness.services.store.save(acknowledged)
    return harness


async def test_lead_duty_shows_only_what_the_viewer_may_see(board: Harness) -> None:
    signed_out = (await board.client.get("/api/leads")).json()
    assert signed_out["viewer"] is None
    assert set(people(signed_out, 30)) == {"alice", "bob"}
    assert people(signed_out, 30)["bob"]["hours"] == 20.0  # severity 2, resolved after 20 h
    assert people(signed_out, 90)["carol"]["incidents"] == 1  # the public one, 40 days ago
    await sign_in(board, "carol")  # a reader of the private repository
    signed_in = (await board.client.get("/api/leads")).json()
    assert people(signed_in, 30)["carol"]["incidents"] == 1  # the private one, open 5 h
    assert people(signed_in, 90)["carol"]["incidents"] == 2
    assert 34.9 < people(signed_in, 90)["carol"]["hours"] < 35.1
    page = (await board.client.get("/leads?days=365")).text
    assert "Lead duty, last 365 days" in page and "signed in as <b>carol</b>" in page
    assert PRIVATE not in page  # people and numbers, never the incidents themselves


async def test_time_to_acknowledge_on_the_dashboard_and_in_the_metrics(board: Harness) -> None:
    stats = (await board.client.get("/api/incidents")).json()["stats_90_days"]
    sev1 = stats[0]
    # Recorded in the window: public #1 (10 m) and #4 (30 m); the private one is not seen.
    assert sev1["time_to_acknowledge"] == {
        "count": 2,
        "median_seconds": 1200.0,
        "p90_seconds": 1680.0,
    }
    incident = (await board.client.get("/api/incidents/octo/ops/1")).json()
    assert incident["time_to_acknowledge_seconds"] == 600
    assert incident["impact_started_at"] is None
    page = (await board.client.get("/incidents/octo/ops/1")).text
    assert "Time to acknowledge</th><td>10m" in page
    assert "Acknowledge, median</th>" in (await board.client.get("/")).text
    metrics = (await board.client.get("/metrics")).text
    # The metrics count every repository's incidents (no names, only numbers per severity).
    assert 'incident_flow_time_to_acknowledge_seconds{quantile="0.5",severity="1"} 1200.0' in (
        metrics
    )
    assert 'incident_flow_time_to_acknowledge_seconds{quantile="0.9",severity="2"} NaN' in metrics
    assert 'incident_flow_time_to_stabilize_seconds{quantile="0.5",severity="1"} 1800.0' in metrics
    assert 'incident_flow_incidents_measured{measure="acknowledge",severity="1"} 2.0' in metrics


async def test_started_backdates_the_impact_and_time_to_stabilize_counts_from_it(
    harness: Harness,
) -> None:
    fake = harness.fake  # its clock: 2026-11-02 09:00 UTC
    triage(harness, "zed")
    number = await declare(harness)
    fake.tick(minutes=10)
    await say(harness, number, "/started 2026-11-02 09:05", actor="zed")  # after the recording
    await say(harness, number, "/started 2026-11-03 08:00", actor="zed")  # the future
    await say(harness, number, "/started soon", actor="zed")
    await say(harness, number, "/started 45m ago", actor="mallory")
    assert (await record(harness, number)).impact_started_at is None
    replies = harness.bot_comments(number)
    assert (
        "after the incident was recorded (2026-11-02 09:00 UTC), so nothing changed" in (replies[0])
    )
    assert "that is in the future, so nothing changed" in replies[1]
    assert "usage: `/started TIME`, TIME as `2026-11-02 08:30` (UTC)" in replies[2]
    assert "needs triage permission" in replies[3]

    await say(harness, number, "/started 45m ago", actor="zed")
    incident = await record(harness, number)
    assert incident.impact_started_at == datetime(2026, 11, 2, 8, 25, tzinfo=UTC)
    last = incident.timeline[-1]
    assert (last.kind, last.actor) == ("impact", "zed")
    assert last.detail == "Impact began 2026-11-02 08:25 UTC, 35m before it was recorded"
    assert len(harness.bot_comments(number)) == 4  # done without a reply
    (status,) = fake.status_comments(REPO, number)
    assert "| **Impact began** | 2026-11-02 08:25 UTC |" in status.body

    fake.tick(minutes=10)
    await say(harness, number, "/stabilized", actor="zed")
    data = (await harness.client.get(f"/api/incidents/{REPO}/{number}")).json()
    assert data["impact_started_at"] == "2026-11-02T08:25:00+00:00"
    assert 55 * 60 <= data["time_to_stabilize_seconds"] < 56 * 60  # from 08:25, not 09:00
    (status,) = fake.status_comments(REPO, number)
    assert "| **Time to stabilize** | 55m |" in status.body
    page = (await harness.client.get(f"/incidents/{REPO}/{number}")).text
    assert "Impact began</th><td>2026-11-02 08:25 UTC" in page
