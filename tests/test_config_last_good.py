"""An invalid new config keeps the last good one in force, and the service says so."""

import logging

import pytest

from tests.conftest import Harness

REPO = "octo/ops"
CONFIG = ".github/incidents.yml"
RENAMED = "labels:\n  incident: 'ops incident'\n  resolved: 'ops resolved'\n"
# Valid YAML that PyYAML read as `resolved: incident`-like collision before: two `labels:`.
COLLIDING = "labels:\n  incident: 'ops incident'\n  resolved: 'OPS INCIDENT'\n"
DUPLICATED = "labels:\n  incident: 'ops incident'\nlabels:\n  resolved: 'ops resolved'\n"


async def declare(harness: Harness, label: str = "ops incident") -> int:
    issue, events = harness.fake.open_issue(REPO, labels=[label, "severity:2"], actor="alice")
    await harness.run(events)
    await harness.echo()
    return issue.number


def reports(harness: Harness, number: int) -> list[str]:
    return [b for b in harness.fake.bot_replies(REPO, number) if "is invalid" in b]


@pytest.mark.parametrize(
    ("broken", "where"),
    [
        (COLLIDING, ".github/incidents.yml:3: `labels.resolved`: the same label as"),
        (DUPLICATED, ".github/incidents.yml:3: `labels`: written twice"),
    ],
    ids=["collision", "duplicate-key"],
)
async def test_a_broken_version_keeps_the_last_good_one_and_says_so(
    harness: Harness, caplog: pytest.LogCaptureFixture, broken: str, where: str
) -> None:
    harness.fake.repo(REPO).files[CONFIG] = RENAMED
    first = await declare(harness)
    assert await harness.record(first) is not None
    assert reports(harness, first) == []

    await harness.run(harness.fake.push_file(REPO, CONFIG, broken))
    with caplog.at_level(logging.WARNING):
        second = await declare(harness)
        third = await declare(harness)
    # Still managed under the renamed labels: the defaults would not know `ops incident`.
    for number in (second, third):
        recorded = await harness.record(number)
        assert recorded is not None and recorded.managed
    (report,) = reports(harness, second)
    assert "I keep using the last valid version" in report
    assert where in report
    assert reports(harness, third) == []  # once per version
    assert any("using the last valid version" in r.getMessage() for r in caplog.records)

    page = (await harness.client.get("/")).text
    assert "The incident config of" in page and "keeps using the last valid version" in page

    # Fixed: the note goes, and the fixed version is in force.
    await harness.run(harness.fake.push_file(REPO, CONFIG, RENAMED))
    await declare(harness)
    assert "The incident config of" not in (await harness.client.get("/")).text


async def test_a_repo_without_a_good_version_uses_the_defaults(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = COLLIDING
    number = await declare(harness, "incident")
    assert await harness.record(number) is not None
    (report,) = reports(harness, number)
    assert "I keep using the defaults" in report


async def test_a_private_repos_broken_config_is_not_shown_to_strangers(harness: Harness) -> None:
    harness.fake.repo("octo/secret", private=True).files[CONFIG] = COLLIDING
    _, events = harness.fake.open_issue("octo/secret", labels=["incident"])
    await harness.run(events)
    assert "octo/secret" in harness.services.extras["configs"].invalid()
    assert "octo/secret" not in (await harness.client.get("/")).text


async def test_the_last_good_version_outlives_a_restart(harness_for, database_url: str) -> None:  # type: ignore[no-untyped-def]
    before = await harness_for(database_url)
    before.fake.repo(REPO).files[CONFIG] = RENAMED
    await declare(before)
    # The broken version is pushed while no instance reads it; the next one starts afresh.
    before.fake.repo(REPO).files[CONFIG] = COLLIDING
    after = await harness_for(database_url)
    number = await declare(after)
    recorded = await after.record(number)
    assert recorded is not None and recorded.managed
    (report,) = reports(after, number)
    assert "I keep using the last valid version" in report


async def test_a_removed_file_makes_the_defaults_the_last_good_config(harness_for) -> None:  # type: ignore[no-untyped-def]
    before = await harness_for()
    before.fake.repo(REPO).files[CONFIG] = RENAMED
    await declare(before)
    await before.run(before.fake.push_file(REPO, CONFIG, None))
    await declare(before, "incident")  # read again: absent
    before.fake.repo(REPO).files[CONFIG] = COLLIDING
    after = await harness_for(before.services.settings.database_url)
    number = await declare(after, "incident")
    (report,) = reports(after, number)
    assert "I keep using the defaults" in report
