"""The lead rule as tables: time zones, working-hour edges, rotation periods, history."""

from datetime import UTC, datetime

import pytest

from app.domain.config import LeadConfig, Runner
from app.domain.config_file import parse_config
from app.domain.leads import on_duty, pick_lead, runner_at


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


ROTATION = """\
lead:
  rotation:
    start: 2026-11-02T00:00:00Z
    every: 7d
    runners:
      - login: alice
        timezone: Europe/Berlin
        hours: "09:00-17:00"
        days: [mon, tue, wed, thu, fri]
      - {login: bob, timezone: America/New_York, hours: "09:00-17:00"}
  maintainers: [alice, bob, carol, dave]
"""
TEAM = parse_config(ROTATION)[0].lead


@pytest.mark.parametrize(
    ("at", "history", "lead"),
    [
        # Week 1 is alice's. Berlin is UTC+1 in November.
        ("2026-11-02T08:00", {}, "alice"),  # 09:00 in Berlin: the first minute on duty
        ("2026-11-02T15:59", {}, "alice"),  # 16:59: the last minute
        ("2026-11-02T07:59", {}, "carol"),  # 08:59: off; bob off too (02:59 in New York)
        ("2026-11-02T16:00", {}, "bob"),  # 17:00: off; bob is on (11:00 New York), never led
        ("2026-11-07T10:00", {}, "carol"),  # a Saturday: not one of alice's days
        # Week 2 is bob's; New York is UTC-5 after 1 November.
        ("2026-11-09T14:00", {}, "bob"),
        ("2026-11-09T13:59", {}, "alice"),  # 08:59 for bob; alice (14:59 Berlin) on duty
        # Week 3: the rotation goes round again.
        ("2026-11-16T08:00", {}, "alice"),
        # Before the rotation starts only the pool counts.
        ("2026-10-30T12:00", {}, "alice"),
        # History: whoever led least recently, never led first, ties in listed order.
        (
            "2026-11-02T07:00",
            {"carol": "2026-10-01T00:00", "dave": "2026-09-01T00:00"},
            "dave",
        ),
        ("2026-11-02T07:00", {"carol": "2026-10-01T00:00"}, "dave"),
        ("2026-11-02T07:00", {"dave": "2026-10-01T00:00"}, "carol"),
        (
            "2026-11-02T16:00",
            {"bob": "2026-10-01T00:00", "carol": "2026-10-02T00:00", "dave": "2026-10-03T00:00"},
            "bob",
        ),
    ],
)
def test_rotation_and_pool(at: str, history: dict[str, str], lead: str) -> None:
    last_led = {login: utc(when) for login, when in history.items()}
    choice = pick_lead(at=utc(at), recorder="zed", config=TEAM, last_led=last_led)
    assert choice.login == lead, choice.reason


def runner(hours: str | None, zone: str = "UTC", days: tuple[str, ...] | None = None) -> Runner:
    values: dict[str, object] = {"login": "r", "timezone": zone, "hours": hours}
    if days is not None:
        values["days"] = days
    return Runner.model_validate(values)


@pytest.mark.parametrize(
    ("entry", "at", "expected"),
    [
        (runner("09:00-17:00", "Asia/Kolkata"), "2026-11-02T03:29", False),  # 08:59 IST
        (runner("09:00-17:00", "Asia/Kolkata"), "2026-11-02T03:30", True),  # 09:00 IST
        (runner("09:00-17:00", "Asia/Kolkata"), "2026-11-02T11:29", True),  # 16:59
        (runner("09:00-17:00", "Asia/Kolkata"), "2026-11-02T11:30", False),  # 17:00
        # Berlin's summer time begins on 29 March 2026: 07:00 UTC is 08:00, then 09:00.
        (runner("09:00-17:00", "Europe/Berlin"), "2026-03-27T07:00", False),
        (runner("09:00-17:00", "Europe/Berlin"), "2026-03-30T07:00", True),
        # New York's ends on 1 November 2026: 13:30 UTC is 09:30, then 08:30.
        (runner("09:00-17:00", "America/New_York"), "2026-10-30T13:30", True),
        (runner("09:00-17:00", "America/New_York"), "2026-11-02T13:30", False),
        # Overnight shifts belong to the day they start: Monday 22:00 to Tuesday 06:00.
        (runner("22:00-06:00", days=("mon",)), "2026-11-02T23:00", True),
        (runner("22:00-06:00", days=("mon",)), "2026-11-03T05:59", True),
        (runner("22:00-06:00", days=("mon",)), "2026-11-03T06:00", False),
        (runner("22:00-06:00", days=("mon",)), "2026-11-02T05:00", False),  # Sunday's shift
        (runner("22:00-06:00", days=("mon",)), "2026-11-03T22:00", False),  # Tuesday's
        (runner("00:00-24:00", days=("sat", "sun")), "2026-11-07T23:59", True),
        (runner(None, days=("mon",)), "2026-11-03T12:00", False),
        (runner(None), "2026-11-03T03:00", True),
    ],
)
def test_working_hours(entry: Runner, at: str, expected: bool) -> None:
    assert on_duty(entry, utc(at)) is expected


@pytest.mark.parametrize(
    ("every", "at", "expected"),
    [
        ("7d", "2026-11-08T23:59", "a"),
        ("7d", "2026-11-09T00:00", "b"),
        ("7d", "2026-11-16T00:00", "c"),
        ("7d", "2026-11-23T00:00", "a"),
        ("1d", "2026-11-03T00:00", "b"),
        ("12h", "2026-11-03T12:00", "a"),  # the 4th half-day
        ("2w", "2026-11-15T23:59", "a"),
        ("2w", "2026-11-16T00:00", "b"),
        ("7d", "2026-11-01T23:59", None),  # before the start
    ],
)
def test_rotation_periods(every: str, at: str, expected: str | None) -> None:
    config = LeadConfig.model_validate(
        {
            "rotation": {
                "start": "2026-11-02T00:00:00Z",
                "every": every,
                "runners": [{"login": x} for x in "abc"],
            }
        }
    )
    found = runner_at(config, utc(at))
    assert (found.login if found else None) == expected


def test_no_config_the_recorder_leads() -> None:
    choice = pick_lead(at=utc("2026-11-02T12:00"), recorder="zed", config=LeadConfig(), last_led={})
    assert choice.login == "zed"
    assert "no lead configured" in choice.reason


def test_everyone_off_duty_the_recorder_leads_and_the_reason_names_them() -> None:
    choice = pick_lead(
        at=utc("2026-11-07T03:00"),
        recorder="zed",
        config=LeadConfig.model_validate(
            {
                "rotation": TEAM.rotation.model_dump() if TEAM.rotation else None,
                "maintainers": ["alice", "bob"],
            }
        ),
        last_led={},
    )
    assert choice.login == "zed"
    assert "@alice" in choice.reason and "@bob" in choice.reason


def test_a_bot_recorder_is_no_lead() -> None:
    choice = pick_lead(
        at=utc("2026-11-02T12:00"), recorder="incident-flow[bot]", config=LeadConfig(), last_led={}
    )
    assert choice.login is None


def test_logins_compare_case_insensitively() -> None:
    config = LeadConfig(maintainers=("Carol", "Dave"))
    choice = pick_lead(
        at=utc("2026-11-02T12:00"),
        recorder="zed",
        config=config,
        last_led={"carol": utc("2026-11-01T00:00")},
    )
    assert choice.login == "Dave"
