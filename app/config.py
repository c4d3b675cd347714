"""The repo config `.github/incidents.yml`: its model, parsing with line-exact errors, a cache."""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.github import Client, GitHubRefused, GitHubUnavailable
from app.labels import DEFAULT_LABELS, LabelScheme
from app.lifecycle import Severity, Status

log = logging.getLogger(__name__)

CONFIG_PATH = ".github/incidents.yml"
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DURATION = re.compile(r"^\s*(?:(\d+)w)?\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
MAX_LABEL_LENGTH = 50  # GitHub's limit for a label name


def parse_duration(value: object) -> timedelta:
    """`7d`, `48h`, `1h30m`, `2w`: a positive duration."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        raise ValueError("a duration like 30m, 1h, 48h, 7d or 2w")
    weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
    duration = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    if duration <= timedelta(0):
        raise ValueError("a duration longer than zero")
    return duration


class Strict(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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

    @field_validator("*")
    @classmethod
    def _name(cls, value: str) -> str:
        # GitHub refuses such labels, so the app could never apply them.
        if not value.strip():
            raise ValueError("a label name cannot be empty")
        if len(value) > MAX_LABEL_LENGTH:
            raise ValueError(
                f"{len(value)} characters: GitHub label names have at most {MAX_LABEL_LENGTH}"
            )
        return value

    def collisions(self) -> list[tuple[str, str]]:
        """(key, earlier key) for labels whose names differ only in case: GitHub treats them
        as one label, so `resolved: incident` would record every new incident as Resolved."""
        seen: dict[str, str] = {}
        found = []
        for name, info in type(self).model_fields.items():
            key = info.alias or name
            folded = getattr(self, name).strip().casefold()
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
            reported=self.reported,
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


class Updates(Strict):
    """How often the lead should post an update, per severity."""

    sev1: timedelta = timedelta(hours=1)
    sev2: timedelta = timedelta(hours=24)
    sev3: timedelta = timedelta(hours=24)

    @field_validator("sev1", "sev2", "sev3", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    def cadence(self, severity: Severity | None) -> timedelta:
        # An incident without a severity yet is treated as the most severe: the safe side.
        return {Severity.MAJOR: self.sev2, Severity.MINOR: self.sev3}.get(
            severity or Severity.CRITICAL, self.sev1
        )


class Retrospective(Strict):
    severities: tuple[Severity, ...] = (Severity.CRITICAL, Severity.MAJOR)


class RepoConfig(Strict):
    labels: Labels = Labels.model_validate({})
    lead: LeadConfig = LeadConfig()
    recurrence_window: timedelta = timedelta(hours=48)
    updates: Updates = Updates()
    retrospective: Retrospective = Retrospective()

    @field_validator("recurrence_window", mode="before")
    @classmethod
    def _window(cls, value: object) -> timedelta:
        return parse_duration(value)

    @property
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


def parse_config(text: str, file: str = CONFIG_PATH) -> tuple[RepoConfig, tuple[ConfigError, ...]]:
    """The config in `text`, or the defaults and every error with its line and key."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except DuplicateKey as exc:
        reason = f"written twice in one mapping (first on line {exc.first_line})"
        return DEFAULT_CONFIG, (ConfigError(file, exc.line, exc.key, reason),)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        return DEFAULT_CONFIG, (ConfigError(file, line, "", f"not valid YAML: {problem}"),)
    if data is None:
        return DEFAULT_CONFIG, ()  # an empty file means the defaults
    if not isinstance(data, dict):
        return DEFAULT_CONFIG, (ConfigError(file, 1, "", "the file must be a mapping of keys"),)
    try:
        config = RepoConfig.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(text)
        errors = tuple(
            ConfigError(file, _line_of(root, err["loc"]), _key(err["loc"]), _reason(err))
            for err in exc.errors()
        )
        return DEFAULT_CONFIG, errors
    collisions = config.labels.collisions()
    if not collisions:
        return config, ()
    root = yaml.compose(text)
    written = _keys_under(root, "labels")
    clashes = []
    for key, other in collisions:
        if key not in written and other in written:
            key, other = other, key  # point at the line that renamed a label
        clashes.append(
            ConfigError(
                file,
                _line_of(root, ("labels", key)),
                f"labels.{key}",
                f"the same label as `labels.{other}` (GitHub label names ignore case)",
            )
        )
    return DEFAULT_CONFIG, tuple(clashes)


def _keys_under(root: yaml.Node | None, key: str) -> set[str]:
    if not isinstance(root, yaml.MappingNode):
        return set()
    node = next((v for k, v in root.value if getattr(k, "value", None) == key), None)
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {str(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {key!r} on line {line}")
        self.key, self.line, self.first_line = key, line, first_line


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key written twice in one mapping is an error: PyYAML
    keeps the last silently, so a second `labels:` would drop the first one's renames."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first:
                raise DuplicateKey(key_node.value[:60], line, first[key_node.value])
            first[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


def _key(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part in ("function-after", "function-before", "tagged-union"):
            continue
        else:
            key += f".{part}" if key else str(part)
    return key


def _reason(err: Any) -> str:
    message = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key"
    return message.removeprefix("Value error, ")


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of the nearest parent that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                # An unknown key: point at the key itself.
                key_node = next((k for k, _ in node.value if k.value == part), None)
                return key_node.start_mark.line + 1 if key_node is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
        else:
            continue  # pydantic's own loc parts (validator names) have no node
        line = node.start_mark.line + 1
    return line


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


@dataclass
class _Cached:
    loaded: LoadedConfig
    etag: str | None
    checked: float  # monotonic time of the last look at GitHub
    repo: str = ""  # as GitHub spells it


class KeepsLastGood(Protocol):
    """Where the last valid file of each repo outlives this process (app/last_good.py)."""

    async def load(self, repo: str) -> tuple[str, str] | None: ...
    async def save(self, repo: str, version: str, text: str) -> None: ...
    async def forget(self, repo: str) -> None: ...


@dataclass
class ConfigCache:
    """One config per repo, re-checked with its ETag after `ttl` seconds or a push."""

    ttl: float = 300.0
    clock: Callable[[], float] = time.monotonic
    keeper: KeepsLastGood | None = None
    _entries: dict[str, _Cached] = field(default_factory=dict)

    async def get(self, client: Client, repo: str) -> LoadedConfig:
        key = repo.casefold()
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now - entry.checked < self.ttl:
            return entry.loaded
        refused = False
        try:
            response = await client.request(
                "GET",
                f"/repos/{repo}/contents/{CONFIG_PATH}",
                headers={"If-None-Match": entry.etag} if entry and entry.etag else None,
                ok_statuses=(404,),
                want_response=True,
            )
        except GitHubRefused as exc:
            # No `contents: read` on this installation (granted later by its owner): defaults.
            log.warning("cannot read %s in %s: %s", CONFIG_PATH, repo, exc, extra={"repo": repo})
            response, refused = None, True
        except GitHubUnavailable:
            if entry is None:
                raise
            # GitHub is down or rate limited: the last good answer beats failing the delivery.
            log.warning("using the cached %s of %s: GitHub unavailable", CONFIG_PATH, repo)
            return entry.loaded
        if response is None:  # absent: the defaults
            loaded, etag = LoadedConfig(), None
            gone = not refused and (entry is None or entry.loaded.found)
            if gone and self.keeper is not None:
                await self.keeper.forget(repo)  # the defaults are the last good config now
        elif response.status_code == 304 and entry is not None:  # unchanged, and free
            loaded, etag = entry.loaded, entry.etag
        else:
            etag = response.headers.get("etag")
            content = response.json()
            loaded = _load(content, etag)
            if loaded.valid and self.keeper is not None:
                await self.keeper.save(repo, (loaded.version or "")[:64], _text(content))
            elif loaded.errors:
                previous = entry.loaded if entry is not None else await self._kept(repo)
                loaded = keep_last_good(loaded, previous)
                log.warning(
                    "invalid %s in %s, using %s: %s",
                    CONFIG_PATH,
                    repo,
                    in_force(loaded),
                    "; ".join(map(str, loaded.errors)),
                    extra={"repo": repo},
                )
        self._entries[key] = _Cached(loaded, etag, now, repo)
        return loaded

    async def _kept(self, repo: str) -> LoadedConfig | None:
        """The last valid version an earlier run (or another instance) saw."""
        kept = await self.keeper.load(repo) if self.keeper is not None else None
        if kept is None:
            return None
        config, errors = parse_config(kept[1])
        return None if errors else LoadedConfig(config, True, kept[0])

    def invalid(self) -> dict[str, LoadedConfig]:
        """Repos whose current config file is invalid, by name: what the dashboard notes."""
        return {e.repo: e.loaded for e in self._entries.values() if not e.loaded.valid}

    async def scheme_for(self, client: Client, repo: str) -> LabelScheme:
        return (await self.get(client, repo)).config.scheme

    async def window_for(self, client: Client, repo: str) -> timedelta:
        return (await self.get(client, repo)).config.recurrence_window

    def known_scheme(self, repo: str) -> LabelScheme | None:
        """The repo's label scheme as last read, without a call; None when never read, due
        for a look (another instance may have seen a push), or changed by a push since:
        app/triage.py then decides nothing of the repo at receipt."""
        entry = self._entries.get(repo.casefold())
        if entry is None or self.clock() - entry.checked >= self.ttl:
            return None
        return entry.loaded.config.scheme

    def invalidate(self, repo: str) -> None:
        """A push changed the file: look again (with the ETag) at the next use."""
        entry = self._entries.get(repo.casefold())
        if entry is not None:
            self._entries[repo.casefold()] = replace(entry, checked=float("-inf"))


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


def _text(content: dict[str, Any]) -> str:
    raw = content.get("content") or ""
    return base64.b64decode(raw).decode("utf-8", errors="replace") if raw else ""


def _load(content: dict[str, Any], etag: str | None) -> LoadedConfig:
    config, errors = parse_config(_text(content))
    return LoadedConfig(config, True, str(content.get("sha") or etag or ""), errors)


def push_touches_config(payload: dict[str, Any]) -> bool:
    """A push to the default branch that adds, changes or removes the config file."""
    repository = payload.get("repository") or {}
    branch = repository.get("default_branch") or "main"
    if payload.get("ref") != f"refs/heads/{branch}":
        return False
    for commit in payload.get("commits") or []:
        for kind in ("added", "modified", "removed"):
            if CONFIG_PATH in (commit.get(kind) or []):
                return True
    return False
