"""Who leads an incident: the rotation runner on duty, else the least recent maintainer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.domain.config import DAYS, LeadConfig, Runner
from app.domain.payloads import is_bot


@dataclass(frozen=True)
class LeadChoice:
    login: str | None
    reason: str


def on_duty(runner: Runner, at: datetime) -> bool:
    """Whether `at` falls in the runner's working hours and days, in their own time zone."""
    local = at.astimezone(ZoneInfo(runner.timezone))
    span = runner.span()
    day = DAYS[local.weekday()]
    if span is None:
        return day in runner.days
    start, end = span
    minute = local.hour * 60 + local.minute
    if start < end:
        return day in runner.days and start <= minute < end
    # An overnight shift (22:00-06:00) belongs to the day it started on.
    if minute >= start:
        return day in runner.days
    if minute < end:
        return DAYS[(local.weekday() - 1) % 7] in runner.days
    return False


def runner_at(config: LeadConfig, at: datetime) -> Runner | None:
    """The rotation's runner for the period containing `at` (none before the rotation starts)."""
    rotation = config.rotation
    if rotation is None or at < rotation.start:
        return None
    period = (at - rotation.start) // rotation.every
    return rotation.runners[period % len(rotation.runners)]


def pick_lead(
    *,
    at: datetime,
    recorder: str,
    config: LeadConfig,
    last_led: Mapping[str, datetime],
    asked: frozenset[str] = frozenset(),
) -> LeadChoice:
    """The policy's lead for an incident recorded at `at` (GitHub's time).

    `last_led` maps a casefolded login to when that person last led one of this repo's
    incidents. With nothing configured, or everyone off duty, the recorder leads (never a
    bot). `asked` (casefolded): people already asked to lead this incident, never chosen again.
    """
    runner = runner_at(config, at)
    skipped: list[str] = []
    if runner is not None and runner.login.casefold() not in asked:
        if on_duty(runner, at):
            return LeadChoice(runner.login, "support rotation runner on duty")
        skipped.append(runner.login)
    available = []
    for login in config.maintainers:
        if login.casefold() in asked:
            continue
        entry = config.runner(login)
        if entry is not None and not on_duty(entry, at):
            skipped.append(login)
        else:
            available.append(login)
    if available:
        # Never led sorts first; then the longest ago; ties keep the listed order (stable sort).
        never = datetime.min.replace(tzinfo=UTC)
        chosen = min(available, key=lambda login: last_led.get(login.casefold(), never))
        when = last_led.get(chosen.casefold())
        reason = "maintainer who led least recently" if when else "maintainer who has not led yet"
        return LeadChoice(chosen, reason + _off_duty(skipped))
    if config.rotation is None and not config.maintainers:
        return LeadChoice(_person(recorder), "recorded the incident (no lead configured)")
    return LeadChoice(_person(recorder), "recorded the incident" + _off_duty(skipped))


def _off_duty(skipped: list[str]) -> str:
    unique = list(dict.fromkeys(skipped))
    return f"; off duty: {', '.join('@' + s for s in unique)}" if unique else ""


def _person(login: str) -> str | None:
    # An incident recorded by a bot (our own recurrence issue) has no human recorder to lead.
    return None if not login or is_bot(login) else login


def on_duty_now(config: LeadConfig, login: str, at: datetime) -> bool:
    """Whether `login` works at `at`, where their hours are known (a runner entry); else yes."""
    entry = config.runner(login)
    return entry is None or on_duty(entry, at)
