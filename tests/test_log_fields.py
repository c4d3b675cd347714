"""A delivery's log fields come from its one parse, and say what the raw JSON says."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import app.queue.delivery
from app.domain.payloads import Event, read_event
from app.logs import _raw_fields, delivery_fields
from app.queue.delivery import Delivery

REPO = {"id": 1, "full_name": "octo/ops"}
ISSUE = {"id": 70, "number": 7, "title": "db down", "state": "open", "labels": []}
# The first five are events (their fields come from the parse), the rest are not.
PAYLOADS: list[Any] = [
    {"action": "labeled", "repository": REPO, "issue": ISSUE},
    # A retrospective closed as completed: its own number, as before.
    {"action": "closed", "repository": REPO, "issue": {**ISSUE, "number": 12}},
    {"action": "sub_issue_added", "repository": REPO, "parent_issue": ISSUE, "sub_issue": ISSUE},
    {"action": "catch-up", "repository": REPO, "installation": {"id": 3}, "number": 7},
    {"repository": {"id": 1, "full_name": ""}, "issue": {**ISSUE, "number": 0}},
    {"repository": {"full_name": "octo/ops"}, "issue": {"number": 7}},  # not an event
    {"zen": "Keep it logically awesome."},
    "not json {",
]


def delivery(payload: Any) -> Delivery:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return Delivery(1, "d-1", "issues", None, 3, None, text, datetime.now(UTC), 1)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_fields_are_those_of_the_raw_json(payload: Any) -> None:
    given = delivery(payload)
    expected = _raw_fields(given.payload, {"delivery_id": "d-1", "event": "issues"})
    assert delivery_fields(given) == expected


@pytest.mark.parametrize("payload", PAYLOADS[:5])
def test_the_worker_and_the_handler_share_one_parse(
    payload: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []

    def counted(text: str) -> Event:
        parses.append(text)
        return read_event(text)

    monkeypatch.setattr(app.queue.delivery, "read_event", counted)
    given = delivery(payload)
    delivery_fields(given)  # the worker's log lines
    assert given.parsed is given.parsed  # the handler's event: the same one
    assert len(parses) == 1
