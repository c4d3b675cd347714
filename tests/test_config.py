"""The repo config: good and broken files, errors with file, line and key; the preset."""

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args, get_origin

import pytest
from pydantic import BaseModel

from app.domain.config import (
    DEFAULT_CONFIG,
    LoadedConfig,
    RepoConfig,
    format_errors,
    keep_last_good,
    parse_duration,
)
from app.domain.config_file import parse_config
from app.domain.lifecycle import Severity, Status

ROOT = Path(__file__).parent.parent


def readme_example() -> str:
    """The example in the README, which is the issue's example: documented and tested."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Repo config", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "the README's config section has no example"
    return block.group(1)


ISSUE_EXAMPLE = readme_example()


def test_the_issue_example_parses() -> None:
    config, errors = parse_config(ISSUE_EXAMPLE)
    assert errors == ()
    assert config.scheme.critical == "🟥 priority: critical"
    assert config.scheme.incident == "incident"  # not renamed: the default
    rotation = config.lead.rotation
    assert rotation is not None
    assert rotation.start == datetime(2026, 11, 2, tzinfo=UTC)
    assert rotation.every == timedelta(days=7)
    assert [r.login for r in rotation.runners] == ["alice", "bob"]
    assert rotation.runners[0].days == ("mon", "tue", "wed", "thu", "fri")
    assert len(rotation.runners[1].days) == 7  # no days listed: every day
    assert config.lead.maintainers == ("alice", "bob", "carol", "dave")
    assert config.recurrence_window == timedelta(hours=48)
    assert config.updates.cadence(Severity.CRITICAL) == timedelta(hours=1)
    assert config.updates.cadence(Severity.MINOR) == timedelta(hours=24)
    assert config.retrospective.severities == (Severity.CRITICAL, Severity.MAJOR)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"], ids=["empty", "comment", "{}"])
def test_empty_files_mean_the_defaults(text: str) -> None:
    assert parse_config(text) == (DEFAULT_CONFIG, ())


def test_every_label_can_be_renamed() -> None:
    config, errors = parse_config(
        "labels:\n  stabilization-pending: '🚦 sp'\n  sev2: 'S2'\n  reviewed: done\n"
    )
    assert errors == ()
    scheme = config.scheme
    assert scheme.status_label(Status.STABILIZATION_PENDING) == "🚦 sp"
    assert scheme.severity_label(Severity.MAJOR) == "S2"
    assert scheme.status_of("DONE") is Status.REVIEWED


BROKEN = [
    pytest.param(
        "lead:\n  maintainers: [a]\n  rotaton: {}\n", 3, "lead.rotaton", "unknown key", id="typo"
    ),
    pytest.param(
        ISSUE_EXAMPLE.replace("America/New_York", "Mars/Olympus"),
        9,
        "lead.rotation.runners[1].timezone",
        "unknown time zone",
        id="timezone",
    ),
    pytest.param(
        ISSUE_EXAMPLE.replace("every: 7d", "every: weekly"),
        6,
        "lead.rotation.every",
        "a duration like",
        id="duration",
    ),
    pytest.param(
        ISSUE_EXAMPLE.replace('"09:00-17:00"}', '"9-5"}'),
        9,
        "lead.rotation.runners[1].hours",
        "working hours like",
        id="hours",
    ),
    pytest.param(
        "retrospective:\n  severities: [1, 4]\n", 2, "retrospective.severities[1]", "", id="sev"
    ),
    pytest.param(
        "lead:\n  rotation:\n    start: 2026-11-02T00:00:00Z\n    runners: []\n",
        4,
        "lead.rotation.runners",
        "at least 1",
        id="no-runners",
    ),
    pytest.param("updates: {sev1: 0m}\n", 1, "updates.sev1", "longer than zero", id="zero"),
    pytest.param("labels: [a, b]\n", 1, "labels", "", id="wrong-type"),
    pytest.param("lead:\n  maintainers: [a\n  x: 1\n", 3, "", "not valid YAML", id="yaml"),
    pytest.param("- just\n- a list\n", 1, "", "must be a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("text", "line", "key", "reason"), BROKEN)
def test_broken_files_say_file_line_key_and_reason(
    text: str, line: int, key: str, reason: str
) -> None:
    config, errors = parse_config(text)
    assert config == DEFAULT_CONFIG  # the app keeps working on the defaults
    assert errors, "an error was expected"
    error = errors[0]
    assert error.file == ".github/incidents.yml"
    assert (error.line, error.key) == (line, key)
    assert reason in error.reason
    assert str(error).startswith(f".github/incidents.yml:{line}: ")


def test_all_errors_are_reported_at_once() -> None:
    _, errors = parse_config("recurrence_window: soon\nupdates: {sev9: 1h}\n")
    assert {(e.line, e.key) for e in errors} == {
        (1, "recurrence_window"),
        (2, "updates.sev9"),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("48h", timedelta(hours=48)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        ("1d 12h", timedelta(hours=36)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "1y", "h", "-1h", "0h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_openverse_preset_is_valid_and_uses_openverse_labels() -> None:
    config, errors = parse_config((ROOT / "docs" / "openverse-incidents.yml").read_text())
    assert errors == ()
    assert config.scheme.critical == "🟥 priority: critical"
    assert config.lead.rotation is not None and config.lead.rotation.every == timedelta(days=7)


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of the config, as the README writes it: `lead.rotation.runners[].login`."""
    keys = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        keys.append(key)
        annotation = field.annotation
        listed = get_origin(annotation) is tuple
        for kind in get_args(annotation) or (annotation,):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                keys += _keys(kind, key + ("[]." if listed else "."))
    return keys


def test_readme_documents_every_key() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [key for key in _keys(RepoConfig) if f"`{key}`" not in readme]
    assert missing == []


LONG = "x" * 51
PROTECTING = [
    pytest.param(
        "labels:\n  resolved: Incident\n",
        2,
        "labels.resolved",
        "same label as `labels.incident`",
        id="collision",
    ),
    pytest.param(
        "labels:\n  sev1: x\n  incident: 'STATUS:RESOLVED'\n",
        3,
        "labels.incident",
        "same label as `labels.resolved`",
        id="collision-with-a-default",
    ),
    pytest.param(
        "labels:\n  sev2: A\n  sev3: a\n", 3, "labels.sev3", "`labels.sev2`", id="two-renamed"
    ),
    pytest.param("labels:\n  sev2: ''\n", 2, "labels.sev2", "cannot be empty", id="empty"),
    pytest.param("labels:\n  sev2: '  '\n", 2, "labels.sev2", "cannot be empty", id="blank"),
    pytest.param(f"labels:\n  critical: {LONG}\n", 2, "labels.critical", "at most 50", id="long"),
    pytest.param(
        "labels:\n  sev1: a\nrecurrence_window: 2h\nlabels:\n  sev2: b\n",
        4,
        "labels",
        "written twice in one mapping (first on line 1)",
        id="duplicate-top-key",
    ),
    pytest.param(
        "updates:\n  sev1: 1h\n  sev1: 2h\n", 3, "sev1", "first on line 2", id="duplicate-inner-key"
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "reason"), PROTECTING)
def test_labels_github_would_merge_or_refuse_and_duplicate_keys_are_errors(
    text: str, line: int, key: str, reason: str
) -> None:
    config, errors = parse_config(text)
    assert config == DEFAULT_CONFIG
    (error,) = errors
    assert (error.line, error.key) == (line, key)
    assert reason in error.reason
    assert str(error).startswith(f".github/incidents.yml:{line}: ")


def test_fifty_characters_and_distinct_names_are_fine() -> None:
    config, errors = parse_config(f"labels:\n  critical: {'x' * 50}\n  sev1: 'Sev 1'\n")
    assert errors == ()
    assert config.scheme.critical == "x" * 50


def test_an_invalid_version_keeps_the_last_good_config() -> None:
    good = LoadedConfig(parse_config(RENAMED)[0], True, "good1234567")
    broken = LoadedConfig(DEFAULT_CONFIG, True, "bad2", parse_config("labels: [x]")[1])
    kept = keep_last_good(broken, good)
    assert (kept.config, kept.version, kept.kept_version) == (good.config, "bad2", "good1234567")
    assert "keep using the last valid version (good123)" in format_errors(kept)
    # Another broken version after that still keeps the good one.
    again = keep_last_good(replace(broken, version="bad3"), kept)
    assert (again.config, again.kept_version) == (good.config, "good1234567")
    # Nothing good before: the defaults, and the report says so.
    assert keep_last_good(broken, None) == broken
    assert keep_last_good(broken, LoadedConfig()) == broken  # no file before
    assert "keep using the defaults" in format_errors(broken)


RENAMED = "labels:\n  incident: outage\n"
