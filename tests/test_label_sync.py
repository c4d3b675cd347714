"""Label sync: the pure plan, and the installation events that run it through the fake."""

import pytest

from app.domain.labels import DEFAULT_LABELS, LabelSpec
from app.github.label_sync import CreateLabel, UpdateLabel, plan_labels
from tests.conftest import Harness

SPECS = [LabelSpec("incident", "d93f0b", "An incident"), LabelSpec("severity:1", "b60205", "Sev 1")]


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        pytest.param([], [CreateLabel(SPECS[0]), CreateLabel(SPECS[1])], id="all-missing"),
        pytest.param(
            [
                {"name": "Incident", "color": "D93F0B", "description": "An incident"},
                {"name": "severity:1", "color": "b60205", "description": "Sev 1"},
            ],
            [],
            id="in-step-case-insensitive",
        ),
        pytest.param(
            [
                {"name": "INCIDENT", "color": "ededed", "description": None},
                {"name": "severity:1", "color": "b60205", "description": "Sev 1"},
            ],
            [UpdateLabel("INCIDENT", SPECS[0])],
            id="ours-with-wrong-colour-keeps-its-name",
        ),
    ],
)
def test_plan_labels(existing: list[dict[str, str]], expected: list[object]) -> None:
    assert plan_labels(existing, SPECS) == expected


def test_plan_never_touches_other_labels() -> None:
    existing = [{"name": "bug", "color": "ff0000", "description": "Something broke"}]
    planned = plan_labels(existing, SPECS)
    assert all(isinstance(change, CreateLabel) for change in planned)


async def test_installation_creates_labels_and_fixes_ours(harness: Harness) -> None:
    repo = harness.fake.repo("octo/ops")
    repo.labels["bug"] = {"id": 1, "name": "bug", "color": "ff0000", "description": "mine"}
    repo.labels["Incident"] = {"id": 2, "name": "Incident", "color": "ededed", "description": ""}
    await harness.run(harness.fake.installation_event(["octo/ops"]))
    names = {name.casefold() for name in repo.labels}
    assert {spec.name.casefold() for spec in DEFAULT_LABELS.specs()} <= names
    assert repo.labels["bug"] == {"id": 1, "name": "bug", "color": "ff0000", "description": "mine"}
    assert repo.labels["Incident"]["color"] == "d93f0b"  # ours, fixed, name kept
    assert "incident" not in repo.labels  # not created twice in another case
    writes = len(harness.fake.writes())
    # A second installation event finds everything in step: no writes at all.
    await harness.run(
        harness.fake.installation_event(["octo/ops"], action="new_permissions_accepted")
    )
    assert len(harness.fake.writes()) == writes


async def test_repositories_added_syncs_the_added_ones(harness: Harness) -> None:
    harness.fake.repo("octo/web")
    await harness.run(
        harness.fake.installation_event(
            ["octo/web"], action="added", event="installation_repositories"
        )
    )
    assert "status:stabilized" in harness.fake.repo("octo/web").labels
    assert "octo/ops" not in harness.fake.repos


async def test_sync_uses_the_repository_scheme(harness: Harness) -> None:
    files = harness.fake.repo("octo/ops").files
    files[".github/incidents.yml"] = "labels:\n  critical: '🟥 priority: critical'\n"
    await harness.run(harness.fake.installation_event(["octo/ops"]))
    labels = harness.fake.repo("octo/ops").labels
    assert labels["🟥 priority: critical"]["color"] == "b60205"
    assert "priority:critical" not in labels


async def test_removed_repositories_need_nothing(harness: Harness) -> None:
    await harness.run(harness.fake.installation_event(["octo/ops"], action="deleted"))
    assert harness.fake.writes() == []
