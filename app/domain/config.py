"""The repo config `.github/incidents.yml` as a model: the one config value of a decision (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from app.domain.alert_payloads import AlertsConfig
from app.domain.chat_config import Chat
from app.domain.config_base import Strict, parse_duration
from app.domain.config_duty import AcknowledgeWithin, Updates
from app.domain.labels import DEFAULT_LABELS, LabelScheme
from app.domain.lifecycle import RECURRENCE_WINDOW, Severity, Status

CONFIG_PATH = ".github/incidents.yml"
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
MAX_LABEL_LENGTH = 50  # GitHub's limit for a label name


class Runner(Strict):
    """A member of the support rotation and when they work."""

    login: str
    timezone: str = "UTC"
    hours: str | None = None  # "HH:MM-HH:MM" in their time zone; none = any time
    days: tuple[Day, ...] = DAYS  # none listed = every day

    @field_validator("login")
    @classmethod
    def _login(cls, value: str) -> str:
        return value.removeprefix("@").strip()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = _HOURS.match(value)
        if not match:
            raise ValueError('working hours like "09:00-17:00"')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"{value!r} is not a time range of a day")
        if (h1, m1) == (h2, m2):
            raise ValueError("working hours must not start and end at the same time")
        return value

    def span(self) -> tuple[int, int] | None:
        """Working hours as minutes after midnight (end may be before start: overnight)."""
        if self.hours is None:
            return None
        match = _HOURS.match(self.hours)
        assert match is not None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return h1 * 60 + m1, h2 * 60 + m2


class Rotation(Strict):
    start: datetime
    every: timedelta = timedelta(days=7)
    runners: tuple[Runner, ...] = Field(min_length=1)

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: object) -> timedelta:
        return parse_duration(value)

    @field_validator("start")
    @classmethod
    def _start(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("a time with a zone, e.g. 2026-11-02T00:00:00Z")
        return value


class LeadConfig(Strict):
    rotation: Rotation | None = None
    maintainers: tuple[str, ...] = ()
    acknowledge_within: AcknowledgeWithin = AcknowledgeWithin()

    @field_validator("maintainers")
    @classmethod
    def _maintainers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(login.removeprefix("@").strip() for login in value)

    def runner(self, login: str) -> Runner | None:
        """The rotation entry for `login`, which carries their working hours."""
        if self.rotation is None:
            return None
        folded = login.casefold()
        return next((r for r in self.rotation.runners if r.login.casefold() == folded), None)


class Labels(Strict):
    """Label names; each key renames one default label."""

    incident: str = DEFAULT_LABELS.incident
    critical: str = DEFAULT_LABELS.critical
    stabilization: str = DEFAULT_LABELS.stabilization
    reported: str = DEFAULT_LABELS.reported
    follow_up: str = Field(DEFAULT_LABELS.follow_up, alias="follow-up")
    security: str = DEFAULT_LABELS.security
    sev1: str = DEFAULT_LABELS.severities[Severity.CRITICAL]
    sev2: str = DEFAULT_LABELS.severities[Severity.MAJOR]
    sev3: str = DEFAULT_LABELS.severities[Severity.MINOR]
    stabilization_pending: str = Field(
        DEFAULT_LABELS.statuses[Status.STABILIZATION_PENDING], alias="stabilization-pending"
    )
    stabilized: str = DEFAULT_LABELS.statuses[Status.STABILIZED]
    under_investigation: str = Field(
        DEFAULT_LABELS.statuses[Status.UNDER_INVESTIGATION], alias="under-investigation"
    )
    resolved: str = DEFAULT_LABELS.statuses[Status.RESOLVED]
    reviewed: str = DEFAULT_LABELS.statuses[Status.REVIEWED]
    # The repo's priority labels, one per issue: adding `critical` removes the others.
    priorities: tuple[str, ...] = ()

    @field_validator("*")
    @classmethod
    def _name(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        # GitHub refuses such labels, so the app could never apply them.
        for name in value if isinstance(value, tuple) else (value,):
            if not name.strip():
                raise ValueError("a label name cannot be empty")
            if len(name) > MAX_LABEL_LENGTH:
                raise ValueError(
                    f"{len(name)} characters: GitHub label names have at most {MAX_LABEL_LENGTH}"
                )
        return value

    def collisions(self) -> list[tuple[str, str]]:
        """(key, earlier key) for labels whose names differ only in case: GitHub treats them
        as one label, so `resolved: incident` would record every new incident as Resolved.
        A priority may be the critical label itself (it belongs to the family)."""
        seen: dict[str, str] = {}
        found = []
        named = [
            (info.alias or name, getattr(self, name))
            for name, info in type(self).model_fields.items()
            if name != "priorities"
        ]
        named += [(f"priorities[{i}]", name) for i, name in enumerate(self.priorities)]
        critical = self.critical.strip().casefold()
        for key, name in named:
            folded = name.strip().casefold()
            if key.startswith("priorities[") and folded == critical:
                continue
            if folded in seen:
                found.append((key, seen[folded]))
            else:
                seen[folded] = key
        return found

    def scheme(self) -> LabelScheme:
        return LabelScheme(
            incident=self.incident,
            critical=self.critical,
            stabilization=self.stabilization,
            priorities=self.priorities,
            reported=self.reported,
            follow_up=self.follow_up,
            security=self.security,
            statuses={
                Status.STABILIZATION_PENDING: self.stabilization_pending,
                Status.STABILIZED: self.stabilized,
                Status.UNDER_INVESTIGATION: self.under_investigation,
                Status.RESOLVED: self.resolved,
                Status.REVIEWED: self.reviewed,
            },
            severities={
                Severity.CRITICAL: self.sev1,
                Severity.MAJOR: self.sev2,
                Severity.MINOR: self.sev3,
            },
        )


class Retrospective(Strict):
    severities: tuple[Severity, ...] = (Severity.CRITICAL, Severity.MAJOR)


# A repository's full name as GitHub allows it: a login, a slash, letters, digits, `.`, `-`, `_`.
_REPO_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


class Security(Strict):
    """Security reports: where the incident is opened instead of in public (none: nowhere)."""

    private_repo: str | None = None

    @field_validator("private_repo")
    @classmethod
    def _private_repo(cls, value: str | None) -> str | None:
        if value is not None and not _REPO_NAME.match(value.strip()):
            raise ValueError("a repository as OWNER/NAME, e.g. octo/ops-private")
        return value.strip() if value is not None else None


class RepoConfig(Strict):
    """The policy a repo chose: the one config value every decision is made from."""

    labels: Labels = Labels.model_validate({})
    lead: LeadConfig = LeadConfig()
    recurrence_window: timedelta = RECURRENCE_WINDOW
    updates: Updates = Updates()
    retrospective: Retrospective = Retrospective()
    chat: Chat = Chat()
    alerts: AlertsConfig = AlertsConfig()
    security: Security = Security()

    @field_validator("recurrence_window", mode="before")
    @classmethod
    def _window(cls, value: object) -> timedelta:
        return parse_duration(value)

    @cached_property
    def scheme(self) -> LabelScheme:
        return self.labels.scheme()


DEFAULT_CONFIG = RepoConfig()


@dataclass(frozen=True)
class ConfigError:
    """One thing wrong with the file, located for a human to fix."""

    file: str
    line: int | None
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: `{self.key}`: {self.reason}" if self.key else f"{where}: {self.reason}"


@dataclass(frozen=True)
class LoadedConfig:
    """The config in force for a repo, and why: `found`, with `errors` when it was invalid."""

    config: RepoConfig = DEFAULT_CONFIG
    found: bool = False
    version: str | None = None  # the file's blob sha or ETag: one error report per version
    errors: tuple[ConfigError, ...] = ()
    # When this version is invalid: the earlier valid version whose config stays in force
    # (None: the defaults are).
    kept_version: str | None = None

    @property
    def valid(self) -> bool:
        return not self.errors


def in_force(loaded: LoadedConfig) -> str:
    """What the service uses while the file is invalid, in a few words."""
    if loaded.kept_version is None:
        return "the defaults"
    return f"the last valid version ({loaded.kept_version[:7] or 'unnumbered'})"


def format_errors(loaded: LoadedConfig) -> str:
    lines = "\n".join(f"- {error}" for error in loaded.errors)
    return (
        f"The incident config `{CONFIG_PATH}` is invalid, so I keep using {in_force(loaded)} "
        f"until it is fixed:\n\n{lines}\n\nThe README documents every key; "
        "`incident-flow check-config FILE` checks a file before it is pushed."
    )


def keep_last_good(loaded: LoadedConfig, previous: LoadedConfig | None) -> LoadedConfig:
    """An invalid new version keeps the config of the last valid one in force: falling back
    to the defaults would silently stop managing a repo whose labels are renamed."""
    if previous is None or not previous.found:
        return loaded
    if previous.valid:
        return replace(loaded, config=previous.config, kept_version=previous.version or "")
    if previous.kept_version is not None:
        return replace(loaded, config=previous.config, kept_version=previous.kept_version)
    return loaded
