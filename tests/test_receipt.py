"""The receiver's slim `Receipt` reads a delivery as `Event` does: same key, lane and refusals."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.domain.labels import LabelScheme
from app.domain.payloads import Event, Receipt
from app.domain.plan import marker
from app.sandbox.github import FakeGitHub
from app.service.triage import Triage
from bench.probot import small_bodies

REPO = "octo/ops"
EVENTS = ("issues", "issue_comment", "sub_issues", "push", "installation")


def corpus() -> list[tuple[str, dict[str, Any]]]:
    """Deliveries of every kind the receiver triages, from the fake GitHub and the bench."""
    fake = FakeGitHub()
    fake.repo(REPO)
    found: list[tuple[str, dict[str, Any]]] = []
    incident, opened = fake.open_issue(REPO, labels=["incident", "sev1"])
    found += opened
    plain, opened = fake.open_issue(REPO, labels=["bug"])
    found += opened
    retro, opened = fake.open_issue(REPO, title="Retrospective")
    found += opened
    fake.repos[REPO].issues[retro.number].body = f"notes\n{marker(f'retro:{incident.number}')}"
    follow, opened = fake.open_issue(REPO, title="Follow-up")
    found += opened
    fake.repos[REPO].issues[follow.number].body = marker(f"follow-up-of:{incident.number}")
    for number in (incident.number, plain.number, retro.number, follow.number):
        found += fake.label(REPO, number, add=["needs-triage"])
        found += fake.label(REPO, number, remove=["needs-triage"])
        found += fake.comment(REPO, number, "/severity sev2")
        found += fake.comment(REPO, number, "looks like the cache again")
        found += fake.set_state(REPO, number, "closed")
    found += fake.hand_add_sub_issue(REPO, incident.number, plain.number)
    found += fake.hand_add_sub_issue(REPO, retro.number, follow.number)
    found += fake.push_file(REPO, ".github/incidents.yml", "labels:\n  incident: outage\n")
    found += fake.push_file(REPO, "README.md", "hello")
    # The bench's bodies (3 KB and 12 KB of issue text; GitHub's own ~12 KB example needs the
    # bench's npm modules, which `make test` does not install).
    bodies = small_bodies(fake, 3) + small_bodies(fake, 3, size=12 * 1024)
    found += [("issues", json.loads(b)) for b in bodies]
    pull = json.loads(small_bodies(fake, 1, size=12 * 1024)[0])
    pull["issue"]["pull_request"] = {"url": "https://example.test/pulls/1"}
    found.append(("issues", pull))
    return found


def triages() -> list[Triage]:
    scheme = LabelScheme(incident="outage")  # type: ignore[call-arg]
    return [Triage(), Triage(lambda _repo: scheme)]


CORPUS = corpus()


@pytest.mark.parametrize(("event_name", "payload"), CORPUS)
def test_receipt_reads_each_delivery_as_event_does(
    event_name: str, payload: dict[str, Any]
) -> None:
    body = json.dumps(payload).encode()
    event = Event.model_validate_json(body)
    receipt = Receipt.model_validate_json(body)
    assert receipt.action == event.action
    assert receipt.repository == event.repository
    assert receipt.installation == event.installation
    assert receipt.issue_key() == event.issue_key()
    for triage in triages():
        assert triage.lane(event_name, receipt, body) == triage.lane(event_name, event, body)


def test_the_corpus_covers_markers_sub_issues_and_pushes() -> None:
    events = [Event.model_validate(payload) for _, payload in CORPUS]
    moved = [
        e
        for e in events
        if (issue := e.incident_issue()) is not None
        and e.repository is not None
        and e.issue_key() != f"{e.repository.id}#{issue.number}"
    ]
    assert len(moved) >= 2  # a retrospective's and a follow-up's deliveries: the incident's
    assert any(e.sub_issue is not None and e.parent_issue is not None for e in events)
    assert {name for name, _ in CORPUS} >= {"issues", "issue_comment", "sub_issues", "push"}


# JSON shaped like deliveries, often wrong: Receipt never accepts less than Event does.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4))
labels = st.lists(st.one_of(st.fixed_dictionaries({"name": st.text(max_size=8)}), scalars))
issues = st.one_of(
    scalars,
    st.fixed_dictionaries(
        {"id": st.integers(1, 9), "number": st.one_of(st.integers(1, 9), st.text(max_size=2))},
        optional={
            "body": st.one_of(st.none(), st.sampled_from([marker("retro:3"), "x"])),
            "labels": labels,
            "pull_request": st.one_of(st.none(), st.just({}), scalars),
        },
    ),
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "action": st.one_of(st.sampled_from(["labeled", "created", "closed"]), scalars),
        "repository": st.one_of(scalars, st.just({"id": 7, "full_name": REPO})),
        "installation": st.one_of(scalars, st.just({"id": 1})),
        "issue": issues,
        "sub_issue": issues,
        "parent_issue": issues,
        "comment": st.one_of(scalars, st.fixed_dictionaries({"id": st.just(1), "body": scalars})),
    },
)


@settings(max_examples=300, deadline=None)
@given(payload=payloads, event_name=st.sampled_from(EVENTS))
def test_receipt_accepts_what_event_accepts_and_agrees(
    payload: dict[str, Any], event_name: str
) -> None:
    body = json.dumps(payload).encode()
    try:
        event = Event.model_validate_json(body)
    except ValidationError:
        with pytest.raises(ValidationError):
            Receipt.model_validate_json(body)
        return
    receipt = Receipt.model_validate_json(body)
    assert receipt.issue_key() == event.issue_key()
    for triage in triages():
        assert triage.lane(event_name, receipt, body) == triage.lane(event_name, event, body)
