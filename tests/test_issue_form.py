"""The shipped issue form: its answers become labels, and the template names real labels."""

from pathlib import Path

import pytest
import yaml

from app.domain.config_file import parse_config
from app.domain.issue_form import SECURITY_HEADING, form_answers, labels_from_form
from app.domain.labels import DEFAULT_LABELS
from tests.conftest import Harness

BODY = """### Severity

2: Major: many users, or critical functionality

### What is broken?

Search returns 500.

### Is it still disrupting service?

No: already stable
"""


def test_form_answers() -> None:
    answers = form_answers(BODY)
    assert answers["what is broken?"] == "Search returns 500."
    assert labels_from_form(BODY, ["incident"], DEFAULT_LABELS) == [
        "severity:2",
        "status:stabilized",
    ]


def test_labels_already_there_win() -> None:
    assert (
        labels_from_form(BODY, ["severity:1", "status:stabilization-pending"], DEFAULT_LABELS) == []
    )
    assert labels_from_form("no form here", [], DEFAULT_LABELS) == []


def test_template_matches_the_parser() -> None:
    template = yaml.safe_load(Path(".github/ISSUE_TEMPLATE/incident.yml").read_text())
    assert template["labels"] == [DEFAULT_LABELS.incident]
    fields = {f["id"]: f for f in template["body"] if "id" in f}
    options = fields["severity"]["attributes"]["options"]
    assert [o[:1] for o in options] == ["1", "2", "3"]
    assert fields["stable"]["attributes"]["label"].casefold() == "is it still disrupting service?"
    assert fields["severity"]["attributes"]["label"].casefold() == "severity"
    security = fields["security"]["attributes"]
    assert security["label"].casefold() == SECURITY_HEADING
    assert [o.casefold().startswith("yes") for o in security["options"]] == [False, True]


# Each shipped form with the config it ships with: the default form needs no config.
FORMS_WITH_CONFIGS = [
    (".github/ISSUE_TEMPLATE/incident.yml", None),
    ("docs/openverse-issue-form.yml", "docs/openverse-incidents.yml"),
]


@pytest.mark.parametrize(("form", "config"), FORMS_WITH_CONFIGS)
def test_each_form_applies_only_labels_its_config_knows(form: str, config: str | None) -> None:
    """A form that applies `incident` in a repo whose config renamed it reports "not an
    incident": every label a form applies must be one of its config's labels."""
    parsed, errors = parse_config(Path(config).read_text()) if config else parse_config("")
    assert errors == ()
    scheme = parsed.scheme
    template = yaml.safe_load(Path(form).read_text())
    known = {spec.name for spec in scheme.specs()}
    assert set(template["labels"]) <= known
    assert scheme.incident in template["labels"]


def test_the_forms_differ_only_in_their_labels() -> None:
    default, openverse = (yaml.safe_load(Path(form).read_text()) for form, _ in FORMS_WITH_CONFIGS)
    assert {**default, "labels": None} == {**openverse, "labels": None}


async def test_issue_opened_from_the_form_is_recorded_with_its_answers(harness: Harness) -> None:
    issue, events = harness.fake.open_issue("octo/ops", labels=["incident"])
    issue.body = BODY
    events[0][1]["issue"]["body"] = BODY
    await harness.run(events)
    await harness.echo()
    incident = await harness.services.store.load(harness.fake.repo("octo/ops").id, issue.number)
    assert incident is not None
    assert incident.severity == 2
    assert incident.status.value == "stabilized"
    assert set(issue.labels) == {"incident", "severity:2", "status:stabilized"}
    assert harness.bot_comments(issue.number) == []  # no "needs severity"
