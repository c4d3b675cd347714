"""Alerts end to end through the fake GitHub: firing, firing again, resolving, recurring."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.domain.alert_payloads import group_of
from app.domain.plan import OpenIssue
from app.sandbox.github import BOT_LOGIN, iso
from app.service.replay import replay
from app.storage.db import alert_groups, deliveries, utcnow
from tests.conftest import REPO, RS, SP, Harness

TOKEN = "alerts-token"
GROUP = '{}/{severity="critical"}:{alertname="HighLatency"}'


def alertmanager(
    status: str,
    starts: datetime,
    *,
    ends: datetime | None = None,
    severity: str = "critical",
    summary: str = "API latency is high",
    group: str = GROUP,
    count: int = 1,
) -> dict[str, Any]:
    """An Alertmanager webhook (version 4) for one group."""
    labels = {"alertname": "HighLatency", "severity": severity}
    alerts = [
        {
            "status": status,
            "labels": {**labels, "instance": f"api-{n}"},
            "annotations": {"summary": summary, "description": "p99 over 2 s"},
            "startsAt": iso(starts),
            "endsAt": iso(ends) if ends else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=latency",
            "fingerprint": f"f{n}",
        }
        for n in range(count)
    ]
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "incident-flow",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


def grafana(status: str, starts: datetime, *, severity: str = "warning") -> dict[str, Any]:
    """Grafana's alerting webhook: Alertmanager's fields, version "1", and its own."""
    payload = alertmanager(status, starts, severity=severity, group='{}:{alertname="Disk"}')
    payload.update(version="1", orgId=1, title="[FIRING:1] Disk", state="alerting", message="m")
    for alert in payload["alerts"]:
        alert.update(dashboardURL="https://grafana.example/d/1", panelURL="", silenceURL="")
        alert["values"] = {"B": 92.5}
    return payload


@pytest.fixture
async def h(harness_for) -> Harness:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for(alerts_token=TOKEN)
    harness.fake.repo(REPO).permissions.update({"alice": "maintain"})
    return harness


async def post_alert(
    h: Harness, payload: dict[str, Any] | bytes, *, token: str | None = TOKEN, repo: str = REPO
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await h.client.post(f"/api/alerts/{repo}", content=body, headers=headers)


async def alert(h: Harness, payload: dict[str, Any]) -> httpx.Response:
    """Post a notification, process it, then the echoes GitHub would send."""
    response = await post_alert(h, payload)
    assert response.status_code in (200, 202), response.text
    await h.settle()
    await h.echo()
    return response


async def say(h: Harness, number: int, body: str) -> None:
    await h.run(h.fake.comment(REPO, number, body))
    await h.echo()


async def ten_minutes_pass_for_comments(h: Harness) -> None:
    """The group's comment budget counts on the receiver's clock: move its last comment back."""
    async with h.services.engine.begin() as conn:
        earlier = utcnow() - timedelta(minutes=11)
        await conn.execute(update(alert_groups).values(commented_at=earlier))


def alert_comments(h: Harness, number: int) -> list[str]:
    return [c for c in h.bot_comments(number) if "alert" in c]


async def test_a_firing_group_opens_one_incident_by_the_app(h: Harness) -> None:
    started = h.fake.now
    response = await alert(h, alertmanager("firing", started))
    assert response.status_code == 202
    (number,) = h.incident_issues()
    issue = h.fake.issue(REPO, number)
    assert issue.title == "API latency is high" and issue.via_app
    assert h.labels(number) == {"incident", "severity:1", SP}
    assert "HighLatency" in issue.body and "prometheus.example" in issue.body
    incident = await h.record(number)
    assert incident is not None and incident.declared_by == BOT_LOGIN
    assert incident.severity == 1 and incident.declared_at == started  # the alerts' time
    assert len(h.fake.status_comments(REPO, number)) == 1
    # The same POST again (a sender's retry) is a duplicate: stored once, answered 200.
    again = await post_alert(h, alertmanager("firing", started))
    assert again.status_code == 200 and again.json()["message"] == "alert already received"
    await h.settle()
    assert h.incident_issues() == [number]


async def test_firing_again_notes_and_comments_at_most_every_ten_minutes(h: Harness) -> None:
    start = h.fake.now
    await alert(h, alertmanager("firing", start))
    (number,) = h.incident_issues()
    for n in range(1, 4):  # new alerts join the group: three more notifications
        await alert(h, alertmanager("firing", start + timedelta(minutes=n), count=n + 1))
    assert h.incident_issues() == [number]
    notes = [e for e in (await h.record(number)).timeline if e.kind == "alert"]
    assert len(notes) == 3 and "firing again" in notes[0].detail
    # The issue was opened a moment ago: no comment yet; ten minutes later, one.
    assert alert_comments(h, number) == []
    await ten_minutes_pass_for_comments(h)
    await alert(h, alertmanager("firing", start + timedelta(minutes=5), count=5))
    await alert(h, alertmanager("firing", start + timedelta(minutes=6), count=6))
    (comment,) = alert_comments(h, number)
    assert "firing again" in comment


async def test_resolved_comments_once_suggests_stabilized_and_never_moves(h: Harness) -> None:
    start = h.fake.now
    await alert(h, alertmanager("firing", start))
    (number,) = h.incident_issues()
    ended = start + timedelta(minutes=20)
    await alert(h, alertmanager("resolved", start, ends=ended))
    await alert(h, alertmanager("resolved", start, ends=ended + timedelta(seconds=30)))
    (comment,) = h.bot_comments(number)
    assert "resolved" in comment and "`/stabilized`" in comment
    assert h.labels(number) == {"incident", "severity:1", SP}
    incident = await h.record(number)
    assert incident.status.value == "stabilization-pending"
    assert "/stabilized" in incident.timeline[-2].detail


async def resolve(h: Harness, number: int) -> None:
    await say(h, number, "/stabilized")
    await say(h, number, "/resolved")


async def test_firing_within_48_hours_of_the_resolution_reopens_the_same(h: Harness) -> None:
    await alert(h, alertmanager("firing", h.fake.now))
    (number,) = h.incident_issues()
    await resolve(h, number)
    await h.run(h.fake.set_state(REPO, number, "closed"))  # a resolved incident may be closed
    h.fake.tick(hours=47)
    await alert(h, alertmanager("firing", h.fake.now))
    assert h.incident_issues() == [number]
    assert h.labels(number) == {"incident", "severity:1", SP}
    assert h.fake.issue(REPO, number).state == "open"
    assert any("48-hour rule" in c for c in h.bot_comments(number))
    assert (await h.record(number)).status.value == "stabilization-pending"


async def test_firing_after_48_hours_opens_a_new_incident_and_the_group_follows(
    h: Harness,
) -> None:
    await alert(h, alertmanager("firing", h.fake.now, severity="major"))
    (old,) = h.incident_issues()
    await resolve(h, old)
    h.fake.tick(hours=50)
    started = h.fake.now
    await alert(h, alertmanager("firing", started, severity="major"))
    new = max(h.incident_issues())
    assert new != old and h.labels(old) == {"incident", "severity:2", RS}
    assert h.labels(new) == {"incident", "severity:2", SP}
    assert f"#{old}" in h.fake.issue(REPO, new).body
    assert "HighLatency" in h.fake.issue(REPO, new).body
    assert any(f"#{new}" in c for c in h.bot_comments(old))
    # The group now belongs to the new incident: firing again notes it there.
    await alert(h, alertmanager("firing", started + timedelta(minutes=1), count=2))
    assert len(h.incident_issues()) == 2
    assert any(e.kind == "alert" for e in (await h.record(new)).timeline)


async def test_alerts_firing_since_before_the_resolution_are_noted_not_recurred(
    h: Harness,
) -> None:
    start = h.fake.now
    await alert(h, alertmanager("firing", start))
    (number,) = h.incident_issues()
    await resolve(h, number)
    h.fake.tick(hours=60)
    await alert(h, alertmanager("firing", start, count=2))  # still the same firing
    assert h.incident_issues() == [number]
    assert h.labels(number) == {"incident", "severity:1", RS}
    assert "since before the resolution" in (await h.record(number)).timeline[-1].detail


async def test_grafana_alerts_and_the_repo_severity_mapping(h: Harness) -> None:
    h.fake.push_file(REPO, ".github/incidents.yml", "alerts:\n  severity: {warning: 2}\n")
    await alert(h, grafana("firing", h.fake.now))
    (number,) = h.incident_issues()
    assert h.labels(number) == {"incident", "severity:2", SP}
    body = h.fake.issue(REPO, number).body
    assert "from [Grafana]" in body and "grafana.example/d/1" in body


@pytest.mark.parametrize(
    ("severity", "label"),
    [("critical", "severity:1"), ("HIGH", "severity:2"), ("error", "severity:2"),
     ("warning", "severity:3"), ("", "severity:3")],
)  # fmt: skip
async def test_the_severity_label_reads_as_the_policy_says(
    h: Harness, severity: str, label: str
) -> None:
    await alert(h, alertmanager("firing", h.fake.now, severity=severity))
    (number,) = h.incident_issues()
    assert label in h.labels(number)


async def test_hostile_alert_text_is_bounded_quiet_and_escaped(h: Harness) -> None:
    summary = "@octo/team <img src=x onerror=alert(1)> [click](http://evil) #1 **bold**" * 20
    await alert(h, alertmanager("firing", h.fake.now, summary=summary))
    (number,) = h.incident_issues()
    issue = h.fake.issue(REPO, number)
    assert len(issue.title) <= 100 and "@octo" not in issue.title
    # Every mark is escaped: no tag, link or emphasis survives the Markdown.
    assert issue.body.count("<img") == issue.body.count("\\<img") > 0
    assert "](http://evil)" not in issue.body
    assert "@octo" not in issue.body and "**bold**" not in issue.body


async def test_a_resolved_group_without_an_incident_opens_nothing(h: Harness) -> None:
    start = h.fake.now
    await alert(h, alertmanager("resolved", start, ends=start + timedelta(minutes=5)))
    assert h.incident_issues() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "body is not JSON"),
        (b"[]", "body is not a JSON object"),
        (json.dumps({"version": "4"}).encode(), "groupKey: Field required"),
        (
            json.dumps({**alertmanager("firing", datetime(2026, 11, 2)), "status": "bad"}).encode(),
            "status: Input should be 'firing' or 'resolved'",
        ),
        (json.dumps({**alertmanager("firing", datetime(2026, 11, 2)), "alerts": []}).encode(),
         "alerts: List should have at least 1 item"),
    ],
)  # fmt: skip
async def test_a_malformed_body_is_refused_with_the_reason(
    h: Harness, body: bytes, reason: str
) -> None:
    response = await post_alert(h, body)
    assert response.status_code == 400 and reason in response.json()["message"]


async def test_the_token_the_installation_and_the_size_are_checked(
    h: Harness,
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    payload = alertmanager("firing", h.fake.now)
    assert (await post_alert(h, payload, token=None)).status_code == 401
    assert (await post_alert(h, payload, token="wrong")).status_code == 401
    response = await post_alert(h, payload, repo="someone/else")
    assert response.status_code == 404 and "not installed" in response.json()["message"]
    huge = json.dumps(payload).encode() + b" " * (h.services.settings.max_body_bytes + 1)
    assert (await post_alert(h, huge)).status_code == 413
    await h.settle()
    assert h.incident_issues() == []
    off = await harness_for(f"sqlite:///{tmp_path}/off.db")  # no ALERTS_TOKEN: no endpoint
    response = await off.client.post(f"/api/alerts/{REPO}", json=payload)
    assert response.status_code == 404


async def test_a_group_key_is_stored_hashed_and_the_stored_alert_is_bounded(h: Harness) -> None:
    payload = alertmanager("firing", h.fake.now, count=120)
    await alert(h, payload)
    (number,) = h.incident_issues()
    # 50 kept (stored), 20 of them shown: 100 more are counted, not listed.
    assert "100 more alerts not shown" in h.fake.issue(REPO, number).body
    group = await h.services.alert_groups.load(h.fake.repo(REPO).id, group_of(GROUP))
    assert group is not None and group.number == number


async def test_a_notification_decided_again_after_its_save_does_nothing_more(h: Harness) -> None:
    start = h.fake.now
    await alert(h, alertmanager("firing", start))
    (number,) = h.incident_issues()
    await ten_minutes_pass_for_comments(h)
    await alert(h, alertmanager("firing", start + timedelta(minutes=1), count=2))
    before = await h.record(number)
    comments = len(h.fake.comments_on(REPO, number))
    # The process died after the save and before the inbox heard: both are taken again.
    async with h.services.engine.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.event == "alert")
            .values(state="pending", finished_at=None, outcome=None)
        )
    await h.settle()
    assert h.incident_issues() == [number]
    assert await h.record(number) == before
    assert len(h.fake.comments_on(REPO, number)) == comments


async def test_replay_decides_a_stored_alert_as_the_service_would(
    h: Harness, tmp_path: Path
) -> None:
    await post_alert(h, alertmanager("firing", h.fake.now))
    async with h.services.engine.connect() as conn:
        payload = (await conn.execute(select(deliveries.c.payload))).scalar_one()
    path = tmp_path / "alert.json"
    path.write_text(payload)
    result = await replay(h.services.settings, path, "alert", dry_run=True)
    assert result.plan is not None
    (opened,) = [e for e in result.plan.effects if isinstance(e, OpenIssue)]
    assert opened.title == "API latency is high" and "severity:1" in opened.labels


async def test_the_alert_group_is_kept_on_either_database(harness_for, database_url: str) -> None:  # type: ignore[no-untyped-def]
    h = await harness_for(database_url, alerts_token=TOKEN)
    h.fake.repo(REPO)  # the App's repository
    start = h.fake.now
    await alert(h, alertmanager("firing", start))
    (number,) = h.incident_issues()
    repo_id = h.fake.repo(REPO).id
    first = await h.services.alert_groups.load(repo_id, group_of(GROUP))
    assert first is not None and first.number == number and first.status == "firing"
    await alert(h, alertmanager("resolved", start, ends=start + timedelta(minutes=3)))
    kept = await h.services.alert_groups.load(repo_id, group_of(GROUP))
    assert kept is not None and kept.status == "resolved"
    assert kept.commented_at == first.commented_at  # a resolution has its own once-rule
