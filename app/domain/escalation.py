"""Acknowledgement and escalation: a lead confirms they lead, or the next candidate is asked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from app.domain.config import RepoConfig
from app.domain.durations import format_duration
from app.domain.leads import pick_lead
from app.domain.lifecycle import CLOSED
from app.domain.plan import Assign, Effect, PostComment
from app.domain.records import EntryKind, Incident, TimelineEntry


@dataclass(frozen=True)
class LeadPeriod:
    """The current lead's time as lead, read from the timeline."""

    lead: str
    since: datetime  # when they were asked to lead (or took it)
    acknowledged: bool
    gave_up: bool  # their time ran out and no one else could be asked


def leads(incident: Incident | None, login: str) -> bool:
    """Whether `login` is the incident's lead (GitHub logins ignore case)."""
    lead = incident.lead if incident is not None else None
    return lead is not None and bool(login) and lead.casefold() == login.casefold()


def lead_period(incident: Incident) -> LeadPeriod | None:
    """The current lead's period: since their latest lead entry, acknowledged or not."""
    if incident.lead is None:
        return None
    lead = incident.lead.casefold()
    timeline = incident.timeline
    start = next(
        (
            i
            for i in range(len(timeline) - 1, -1, -1)
            if timeline[i].kind == EntryKind.LEAD
            and (timeline[i].to_value or "").casefold() == lead
        ),
        None,
    )
    if start is None:  # a lead with no entry naming them: nothing to wait for
        return LeadPeriod(incident.lead, incident.declared_at, True, False)
    asked = timeline[start]
    later = timeline[start + 1 :]
    acknowledged = (
        asked.actor.casefold() == lead  # they took it themselves
        or any(e.kind == EntryKind.ACKNOWLEDGED and e.actor.casefold() == lead for e in later)
        # A recorder who leads, and records from before acknowledgements were kept (the
        # migration *_oncall.py), carry only the time.
        or (incident.acknowledged_at is not None and incident.acknowledged_at >= asked.at)
    )
    gave_up = any(e.kind == EntryKind.ESCALATION for e in later)
    return LeadPeriod(incident.lead, asked.at, acknowledged, gave_up)


def _names(entry: TimelineEntry, lead: str) -> bool:
    return entry.kind == EntryKind.LEAD and (entry.to_value or "").casefold() == lead


def acknowledge(incident: Incident, actor: str, at: datetime) -> Incident:
    """The lead acted on their incident (`/ack`, any command, comment or label change of
    theirs): their period is acknowledged, on the timeline once."""
    if not incident.managed or not leads(incident, actor):
        return incident
    period = lead_period(incident)
    changed = incident
    if period is not None and not period.acknowledged:
        entry = TimelineEntry(at, actor, EntryKind.ACKNOWLEDGED, "Acknowledged as lead")
        changed = changed.noted(entry)
    if changed.acknowledged_at is None:
        changed = replace(changed, acknowledged_at=at)
    return changed


def asked(incident: Incident) -> frozenset[str]:
    """Everyone asked to lead this incident so far (casefolded): never asked twice."""
    return frozenset(
        e.to_value.casefold() for e in incident.timeline if e.kind == EntryKind.LEAD and e.to_value
    )


def escalation_due(incident: Incident, config: RepoConfig, at: datetime) -> datetime | None:
    """The deadline, once passed at `at`, by which the lead should have acknowledged.

    The wait counts from when they were asked, or from the last severity change (a
    severity 3 incident escalated to 1 gives its lead the severity 1 time from then).
    """
    if not incident.managed or incident.status in CLOSED:
        return None
    period = lead_period(incident)
    within = config.lead.acknowledge_within.of(incident.severity)
    if period is None or period.acknowledged or period.gave_up or within is None:
        return None
    changed = [e.at for e in incident.timeline if e.kind == EntryKind.SEVERITY]
    deadline = max([period.since, *changed]) + within
    return deadline if at >= deadline else None


def hand_over(
    incident: Incident,
    config: RepoConfig,
    last_led: Mapping[str, datetime],
    *,
    at: datetime,
    actor: str,
    why: str,
    keep_if_alone: bool,
) -> tuple[Incident, tuple[Effect, ...]]:
    """The next candidate leads: the rotation runner on duty, else the maintainer on duty who
    led least recently, never anyone asked before. The new lead is assigned and asked to
    acknowledge, the old one unassigned. With no one left, `keep_if_alone` keeps the lead
    (an escalation); otherwise the incident has no lead (a decline)."""
    old = incident.lead
    choice = pick_lead(
        at=at, recorder="", config=config.lead, last_led=last_led, asked=asked(incident)
    )
    new = choice.login
    if new is None and keep_if_alone:
        entry = TimelineEntry(
            at, actor, EntryKind.ESCALATION, f"{why}; no one else is available to lead"
        )
        return incident.noted(entry), ()
    if new is None:
        detail = f"Lead: {old} → none ({why}; no one else is available to lead)"
        entry = TimelineEntry(at, actor, EntryKind.LEAD, detail, from_value=old)
        effects: tuple[Effect, ...] = (Assign(remove=(old,)),) if old else ()
        return replace(incident, lead=None).noted(entry), effects
    detail = f"Lead: {old} → {new} ({why}; {choice.reason})" if old else f"Lead: {new}"
    entry = TimelineEntry(at, actor, EntryKind.LEAD, detail, from_value=old, to_value=new)
    within = config.lead.acknowledge_within.of(incident.severity)
    deadline = f" within {format_duration(within)}" if within is not None else ""
    # The one mention: GitHub notifies the assignee too, but a comment says what is asked.
    ask = PostComment(
        key=f"lead-asked:{new.casefold()}:{int(at.timestamp())}",
        body=(
            f"@{new} you now lead this incident ({why}). Please acknowledge{deadline} with "
            "`/ack` (or any comment), or hand it on with `/lead decline`."
        ),
        look_first=True,
    )
    assign = Assign(add=(new,), remove=(old,) if old else ())
    return replace(incident, lead=new).noted(entry), (assign, ask)
