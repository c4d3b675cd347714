"""The service and `incident-flow replay` route by one table and decide alike: a corpus of
recorded deliveries, each replayed just before the service takes it, gives identical plans."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import app.service.responder
from app.domain.decision import Plan
from app.service.replay import replay
from app.service.routes import ROUTES, Turn
from tests.conftest import REPO, RS, SP, ST, Harness

CONFIG = ".github/incidents.yml"


@pytest.fixture
async def recorded(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the service decided (a Plan) or answered (a str), by delivery id."""
    seen: dict[str, Any] = {}
    decide, carry_out = app.service.responder.decide, app.service.responder.Responder.carry_out

    def deciding(event: Any, snapshot: Any) -> Plan:
        plan = decide(event, snapshot)
        seen[event.hint.delivery_id] = plan
        return plan

    async def carrying_out(self: Any, delivery: Any, routed: Any) -> str:
        if not isinstance(routed, Turn):
            seen[delivery.delivery_id] = routed
        return await carry_out(self, delivery, routed)

    monkeypatch.setattr(app.service.responder, "decide", deciding)
    monkeypatch.setattr(app.service.responder.Responder, "carry_out", carrying_out)
    return seen


async def both(
    h: Harness, recorded: dict[str, Any], tmp_path: Path, deliveries: list[tuple[str, Any]]
) -> list[Any]:
    """Replay each delivery, then let the service take it; the two answers must agree."""
    answers = []
    for event, payload in deliveries:
        delivery_id = str(uuid.uuid4())
        path = tmp_path / f"{delivery_id}.json"
        path.write_text(json.dumps(payload))
        replayed = await replay(
            h.services.settings,
            path,
            event,
            dry_run=False,
            transport=httpx.ASGITransport(app=h.fake),
            delivery_id=delivery_id,
        )
        response = await h.post(event, payload, delivery_id=delivery_id)
        assert response.status_code in (200, 202), response.text
        await h.settle()
        service = recorded.get(delivery_id)
        if isinstance(service, Plan):
            assert replayed.plan == service, (event, payload.get("action"))
        elif service == "covered by an earlier read":
            # The service knows what it read a moment ago; the replay reads again, finds the
            # issue in step, and plans nothing.
            assert replayed.plan is not None and replayed.plan.effects == ()
        elif service is not None:
            assert replayed.plan is None and replayed.outcome == service, (event, service)
        answers.append(service)
        await h.echo()
    return answers


async def test_a_corpus_of_deliveries_decides_alike_in_service_and_replay(
    harness: Harness, recorded: dict[str, Any], tmp_path: Path
) -> None:
    h, fake = harness, harness.fake
    repo = fake.repo(REPO)
    repo.permissions.update({"alice": "maintain", "tess": "triage"})
    run = lambda deliveries: both(h, recorded, tmp_path, deliveries)  # noqa: E731

    issue, events = fake.open_issue(REPO, labels=["incident", "severity:1"], actor="alice")
    n = issue.number
    await run(events)  # declared by a maintainer: lead, status comment
    await run(fake.label(REPO, n, add=[RS]))  # an illegal move, reverted
    await run(fake.label(REPO, n, add=[ST], remove=[SP]))  # a sidebar move: two deliveries
    await run(fake.comment(REPO, n, "/timeline rolled back\n/severity 2", actor="tess"))
    await run(fake.comment(REPO, n, "/help", actor="rita"))  # anyone may ask
    await run(fake.comment(REPO, n, "/resolved", actor="rita"))  # below triage: refused
    child = fake.add_issue(REPO, title="Roll back")
    await run(fake.hand_add_sub_issue(REPO, n, child.number))
    await run(fake.comment(REPO, n, "just words", actor="tess"))  # a human comment, no command
    await run(fake.comment(REPO, n, "/resolved\n/retro", actor="tess"))
    (retro,) = [i for i in repo.issues.values() if i.title.startswith("Retrospective")]
    await run(fake.set_state(REPO, retro.number, "closed", reason="completed"))
    report, events = fake.open_issue(REPO, labels=["incident", "severity:2"], actor="rita")
    await run(events)  # an outsider's report
    (pushed,) = await run(fake.push_file(REPO, CONFIG, "recurrence_window: 2h\n"))
    assert pushed == "push: config will be read again"
    answers = await run(fake.comment(REPO, report.number, "/incident 2", actor="alice"))
    plans = [a for a in recorded.values() if isinstance(a, Plan)]
    assert len(recorded) >= 15 and len(plans) >= 10
    assert isinstance(answers[0], Plan) and answers[0].record is not None  # the report declared


def test_every_route_is_keyed_by_event_and_action() -> None:
    assert all(isinstance(event, str) for event, _action in ROUTES)
    assert ("issues", None) in ROUTES and ("issue_comment", "created") in ROUTES
