"""Alert webhooks (Alertmanager version 4, Grafana's contact point): read strictly, shown safely."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.domain.durations import format_time
from app.domain.lifecycle import Severity

# What one notification may hold, beyond which it is refused (a 400 names the field).
Text = Annotated[str, StringConstraints(max_length=16_384)]
Labels = dict[Annotated[str, StringConstraints(max_length=1024)], Text]
# Alerts kept (stored and shown) per notification; the rest are counted as truncated.
KEPT_ALERTS = 50
SHOWN_ALERTS = 20  # listed in an issue or comment
SHOWN_LABELS = 20  # per alert
TITLE_LENGTH = 100
VALUE_LENGTH = 200
ANNOTATION_LENGTH = 600
LINK_LENGTH = 500
DETAILS_LENGTH = 30_000  # an issue or comment body holds 65,536 characters at most
# The label that names an alert's severity, and the policy's reading of its usual values.
SEVERITY_LABEL = "severity"
DEFAULT_SEVERITIES: Mapping[str, Severity] = {
    "critical": Severity.CRITICAL,
    "error": Severity.MAJOR,
    "major": Severity.MAJOR,
    "high": Severity.MAJOR,
}
# Alertmanager's "not set" time for endsAt.
_UNSET_YEAR = 1


class AlertRefused(ValueError):
    """A body that is not an alert notification; the message says why (a 400's reason)."""


class _Read(BaseModel):
    # Strict types (a number is not a label value); keys we do not use are left alone, as
    # both senders add fields over versions.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Alert(_Read):
    status: Literal["firing", "resolved"]
    labels: Labels = {}
    annotations: Labels = {}
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: Text = ""
    fingerprint: Text = ""
    # Grafana's links.
    dashboardURL: Text = ""
    panelURL: Text = ""
    silenceURL: Text = ""

    def ended(self) -> datetime | None:
        return self.endsAt if self.endsAt is not None and self.endsAt.year > _UNSET_YEAR else None


class AlertPayload(_Read):
    """One notification of an alert group: Alertmanager's version 4, or Grafana's ("1")."""

    version: Literal["4", "1"]
    groupKey: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    status: Literal["firing", "resolved"]
    alerts: Annotated[list[Alert], Field(min_length=1)]
    truncatedAlerts: Annotated[int, Field(ge=0)] = 0
    receiver: Text = ""
    groupLabels: Labels = {}
    commonLabels: Labels = {}
    commonAnnotations: Labels = {}
    externalURL: Text = ""
    # Grafana's additions.
    orgId: int | None = None
    title: Text = ""
    state: Text = ""
    message: Text = ""

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    def kept(self) -> AlertPayload:
        """At most KEPT_ALERTS alerts (firing ones first); the others counted as truncated."""
        if len(self.alerts) <= KEPT_ALERTS:
            return self
        ordered = sorted(self.alerts, key=lambda a: a.status != "firing")
        dropped = len(self.alerts) - KEPT_ALERTS
        kept = {"alerts": ordered[:KEPT_ALERTS], "truncatedAlerts": self.truncatedAlerts + dropped}
        return self.model_copy(update=kept)

    def at(self) -> datetime | None:
        """The alerts' own time of this notification: the latest start of a firing alert, or
        the latest end when the group resolved (never the receiver's or the worker's clock)."""
        if self.firing:
            times = [a.startsAt for a in self.alerts if a.status == "firing"]
        else:
            times = [t for a in self.alerts if (t := a.ended()) is not None]
        times = [t for t in times if t.year > _UNSET_YEAR and t.tzinfo is not None]
        return max(times).astimezone(UTC) if times else None

    def counts(self) -> tuple[int, int]:
        """(firing, resolved) alerts, the truncated ones counted as firing when it fires."""
        firing = sum(1 for a in self.alerts if a.status == "firing")
        resolved = len(self.alerts) - firing
        if self.firing:
            return firing + self.truncatedAlerts, resolved
        return firing, resolved + self.truncatedAlerts


def read_alert_payload(body: bytes | str) -> AlertPayload:
    """The notification in a request body, or AlertRefused with the first reason."""
    try:
        return AlertPayload.model_validate_json(body).kept()
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise AlertRefused("body is not JSON") from None
        if any(e["type"] == "model_type" and not e["loc"] for e in errors):
            raise AlertRefused("body is not a JSON object") from None
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AlertRefused(f"{where[:120]}: {first['msg'][:200]}{more}") from None


def stored(payload: AlertPayload) -> dict[str, object]:
    """The notification as the inbox keeps it (read back with `read_alert_payload`)."""
    data: dict[str, object] = json.loads(payload.model_dump_json())
    return data


def group_of(group_key: str) -> str:
    """The alert group's name in our tables and keys: a hash of its (long) groupKey."""
    return hashlib.sha256(group_key.encode()).hexdigest()[:32]


def alert_delivery_id(repo: str, payload: AlertPayload, body: bytes) -> str:
    """The inbox id of one notification: the same POST again (a retry) is a duplicate."""
    group = hashlib.sha256(f"{repo.casefold()}\n{payload.groupKey}".encode()).hexdigest()
    return f"alert-{payload.status[0]}-{group[:16]}-{hashlib.sha256(body).hexdigest()[:32]}"


def severity_of(payload: AlertPayload, overrides: Mapping[str, Severity]) -> Severity:
    """From the `severity` label: the group's common one, else the most severe alert's."""
    table = {**DEFAULT_SEVERITIES, **{k.casefold(): v for k, v in overrides.items()}}
    common = payload.commonLabels.get(SEVERITY_LABEL)
    each = [alert.labels.get(SEVERITY_LABEL) for alert in payload.alerts]
    words = [common] if common is not None else each
    found = [table.get((w or "").strip().casefold(), Severity.MINOR) for w in words]
    return min(found, default=Severity.MINOR)


def alert_title(payload: AlertPayload) -> str:
    """The incident's title: the group's summary, else its alert name (plain, bounded)."""
    for text in (
        payload.commonAnnotations.get("summary"),
        payload.commonLabels.get("alertname"),
        payload.groupLabels.get("alertname"),
        payload.alerts[0].labels.get("alertname"),
    ):
        if text and text.strip():
            return plain(text, TITLE_LENGTH)
    return "Alert firing"


def alert_details(payload: AlertPayload, *, shown: int = SHOWN_ALERTS) -> str:
    """The group's alerts as Markdown: every value escaped and bounded, links checked."""
    firing, resolved = payload.counts()
    lines = [f"**{firing} firing, {resolved} resolved**" + _source(payload), ""]
    for number, alert in enumerate(payload.alerts[:shown], start=1):
        since = format_time(alert.startsAt)
        ended = alert.ended()
        when = f"since {since}" if ended is None else f"{since} to {format_time(ended)}"
        lines.append(f"{number}. **{alert.status}** {when}")
        labels = [f"{safe(k, 60)}={safe(v, VALUE_LENGTH)}" for k, v in _first(alert.labels)]
        if labels:
            lines.append("   - labels: " + ", ".join(labels))
        for key, value in _first(alert.annotations):
            if key not in ("runbook_url",):
                lines.append(f"   - {safe(key, 60)}: {safe(value, ANNOTATION_LENGTH)}")
        links = _links(alert)
        if links:
            lines.append("   - links: " + " ".join(links))
    hidden = max(0, len(payload.alerts) - shown) + payload.truncatedAlerts
    text = "\n".join(lines)
    if len(text) > DETAILS_LENGTH:
        cut = text.rfind("\n", 0, DETAILS_LENGTH)
        text = text[: cut if cut > 0 else DETAILS_LENGTH] + "\n\n(cut short)"
    if hidden > 0:
        text += f"\n\n{hidden} more alert{'s' if hidden > 1 else ''} not shown."
    return text


def _source(payload: AlertPayload) -> str:
    link = safe_link(payload.externalURL)
    sender = "Grafana" if payload.version == "1" else "Alertmanager"
    return f" (from [{sender}]({link}))" if link else f" (from {sender})"


def _first(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    return sorted(labels.items())[:SHOWN_LABELS]


def _links(alert: Alert) -> list[str]:
    found = [
        ("source", alert.generatorURL),
        ("runbook", alert.annotations.get("runbook_url", "")),
        ("dashboard", alert.dashboardURL),
        ("panel", alert.panelURL),
        ("silence", alert.silenceURL),
    ]
    return [f"[{name}]({link})" for name, url in found if (link := safe_link(url))]


def plain(text: str, limit: int) -> str:
    """Text for a plain-text place (an issue title): one line, bounded, no mentions."""
    words = "".join(ch if ch.isprintable() else " " for ch in text[: limit * 4]).split()
    line = _quiet(" ".join(words))
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def safe(text: str, limit: int) -> str:
    """Someone else's text inside our Markdown: one line, bounded, every ASCII punctuation
    mark escaped (no links, emphasis, tables or HTML), no mentions or issue references."""
    line = plain(text, limit)
    escaped = "".join(f"\\{ch}" if ch in _PUNCTUATION else ch for ch in line)
    return escaped.replace("\\#", "\\#\u2060")


_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def safe_link(url: str) -> str | None:
    """An http(s) link fit for a Markdown link destination, or None."""
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")) or len(url) > LINK_LENGTH:
        return None
    return "".join(ch if ch in _URL_CHARS else _percent(ch) for ch in url)


# Characters a link destination keeps as they are; the rest (spaces, brackets, quotes,
# angle brackets, anything else) are percent-encoded, so none can end the link early.
_URL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#@!$&*+,;=%"
)


def _percent(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode())


def _quiet(text: str) -> str:
    # A word joiner after `@` keeps the name readable and notifies no one (status_comment.quiet).
    return text.replace("@", "@\u2060")


class AlertsConfig(BaseModel):
    """`alerts` in the repo config: how the `severity` label's values read as severities."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], Severity] = {}
