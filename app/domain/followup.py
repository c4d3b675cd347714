"""What follows a change, decided with it: the lead, the retrospective, the status comment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from app.domain.commands import REGISTRY
from app.domain.config import LoadedConfig, RepoConfig, format_errors
from app.domain.followups import FollowUp, render
from app.domain.leads import pick_lead
from app.domain.lifecycle import Status
from app.domain.plan import (
    Assign,
    Effect,
    KeepStatusComment,
    PostComment,
    opened,
    opened_number,
)
from app.domain.records import EntryKind, Extras, Incident, TimelineEntry
from app.domain.retrospectives import retrospective_issue
from app.domain.status_comment import commands_for_moves, render_status


@dataclass(frozen=True)
class History:
    """What the shell read beside the record for what follows a change."""

    extras: Extras = field(default_factory=Extras)
    # When each person last led one of the repo's incidents (casefolded login): the lead choice.
    last_led: Mapping[str, datetime] | None = None
    bot: str = "incident-flow[bot]"


def choose_lead(
    incident: Incident, config: RepoConfig, history: History, *, on: str | None = None
) -> tuple[Incident, tuple[Effect, ...]]:
    """A managed incident without a lead gets the policy's, assigned (`on`: an opened issue).

    Chosen once: an incident left without a lead (declined, no one free) waits for `/lead`.
    A recorder who leads has acknowledged by recording it.
    """
    if not incident.managed or incident.lead is not None:
        return incident, ()
    if any(e.kind == EntryKind.LEAD for e in incident.timeline):
        return incident, ()
    choice = pick_lead(
        at=incident.declared_at,
        recorder=incident.declared_by,
        config=config.lead,
        last_led=history.last_led or {},
    )
    if choice.login is None:
        return incident, ()
    entry = TimelineEntry(
        incident.declared_at,
        history.bot,
        EntryKind.LEAD,
        f"Lead: {choice.login} ({choice.reason})",
        to_value=choice.login,
    )
    chosen = replace(incident, lead=choice.login).noted(entry)
    if choice.login.casefold() == incident.declared_by.casefold():
        # Recording it was their act: acknowledged then, without a line of its own.
        chosen = replace(chosen, acknowledged_at=chosen.acknowledged_at or incident.declared_at)
    return chosen, (Assign(add=(choice.login,), on=on),)


def open_retro(
    before: Incident | None,
    after: Incident,
    config: RepoConfig,
    history: History,
    *,
    asked: bool,
    at: datetime,
    followups: Sequence[FollowUp] = (),
) -> tuple[Incident, tuple[Effect, ...], int | str | None]:
    """The retrospective, once: on reaching Resolved at a listed severity, or when asked.

    Returns the record, the effect, and the retrospective's number (or its placeholder).
    """
    known = history.extras.retro_number
    wanted = after.managed and (asked or wants_retro(before, after, config))
    if known is not None or not wanted:
        return after, (), known
    effect = replace(retrospective_issue(after, render(tuple(followups))), look_first=True)
    entry = TimelineEntry(
        at, history.bot, EntryKind.RETRO, f"Retrospective {opened(effect.key)} opened"
    )
    return after.noted(entry), (effect,), opened_number(effect.key)


def wants_retro(before: Incident | None, after: Incident, config: RepoConfig) -> bool:
    """Reaching Resolved at a listed severity (`/retro` asks on its own: Decision.retro)."""
    if not after.managed:
        return False
    reached = after.status is Status.RESOLVED and (
        before is None or before.status is not Status.RESOLVED
    )
    return reached and after.severity in config.retrospective.severities


def status_comment(
    incident: Incident,
    config: RepoConfig,
    history: History,
    *,
    retro_number: int | str | None = None,
    on: str | None = None,
    followups: Sequence[FollowUp] = (),
) -> KeepStatusComment:
    text = render_status(
        incident,
        config.scheme,
        commands=commands_for_moves(REGISTRY),
        retro_number=retro_number,
        followups=render(tuple(followups)),
    )
    comment_id = history.extras.status_comment_id if on is None else None
    return KeepStatusComment(text, comment_id, on=on)


def config_report(loaded: LoadedConfig, repo_id: int) -> tuple[str, PostComment] | None:
    """What is wrong with an invalid config, said once per file version (the claim's key)."""
    if loaded.valid:
        return None
    comment = PostComment(
        key=f"config-error:{loaded.version}", body=format_errors(loaded), look_first=True
    )
    return f"config-error:{repo_id}:{loaded.version}", comment


def only_reverted(before: Incident | None, after: Incident) -> bool:
    """The record gained only "reverted" timeline entries: the incident itself is unchanged."""
    if before is None or after.timeline[: len(before.timeline)] != before.timeline:
        return False
    added = after.timeline[len(before.timeline) :]
    return (
        bool(added)
        and all(entry.kind == EntryKind.REVERTED for entry in added)
        and (replace(after, timeline=before.timeline) == before)
    )
