"""One pure decision per delivery: what happened and the state read for it → the whole plan."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from app.domain.alerts import AlertGroup, on_alert
from app.domain.chat import Heard, heard
from app.domain.command_flow import run_commands
from app.domain.commands import CommandContext
from app.domain.decide import reconcile_issue
from app.domain.escalation import acknowledge, leads
from app.domain.facts import Decision
from app.domain.followup import choose_lead, config_report, only_reverted, open_retro
from app.domain.followup import status_comment as keep_status
from app.domain.followups import (
    FollowUp,
    FollowUps,
    after_retro,
    is_follow_up,
    known_follow_ups,
    link_by_hand,
)
from app.domain.issue_form import labels_from_form
from app.domain.occurrence import Kind, Occurrence, Snapshot
from app.domain.plan import AddLabels, Effect, Effects, OpenIssue, PostComment
from app.domain.records import Extras, Incident
from app.domain.retrospectives import retro_completed
from app.domain.security import applies as security_report
from app.domain.security import keep_private
from app.domain.timers import on_tick
from app.domain.work import hold_work, link_stabilization_issue


@dataclass(frozen=True)
class Notice:
    """A change for the notifiers (chat, metrics); `opened`: the record is of that new issue.
    `chat`: what chat hears of it, by the repo's `chat` config (None: chat stays quiet)."""

    before: Incident | None
    after: Incident
    opened: str | None = None
    chat: Heard | None = None


@dataclass(frozen=True)
class Plan:
    """Everything one delivery changes: effects on GitHub, then the records saved at once."""

    before: Incident | None
    record: Incident | None
    effects: Effects = ()
    notices: tuple[Notice, ...] = ()
    human_comment_at: datetime | None = None  # an update: reminders count from it
    config_report: tuple[str, PostComment] | None = None  # (claim key, comment): once a version
    reported: bool = False  # an outsider's report: no record
    outcome: str = ""  # when there is nothing to do: why
    others: tuple[Incident, ...] = ()  # other incidents' records changed with this one
    alert_group: AlertGroup | None = None  # what to keep of the alert group
    followups: FollowUps | None = None  # the incident's follow-ups as now known (the dashboard)
    forget: bool = False  # a security report: no public record is kept of it


def decide(event: Occurrence, snapshot: Snapshot) -> Plan:
    """The whole answer to one delivery (pure): the core's decision, then what follows it."""
    config = snapshot.loaded.config
    hint, issue, before = event.hint, snapshot.issue, snapshot.incident
    form: Effects = ()
    group: AlertGroup | None = None
    match event.kind:
        case Kind.ISSUE:
            if security_report(issue, before, config.scheme):
                return _keep_private(event, snapshot)
            if before is None and hint.declarer_permitted:
                # An issue-form incident: its severity and status answers become labels.
                wanted = labels_from_form(issue.body, list(issue.labels), config.scheme)
                if wanted and any(_same(n, config.scheme.incident) for n in issue.labels):
                    form = (AddLabels(tuple(wanted)),)
                    issue = replace(issue, labels=(*issue.labels, *wanted))
            decision = reconcile_issue(hint, issue, before, config, gates=snapshot.gates)
            if decision.incident is None:
                effects = (*form, *decision.plan)
                outcome = "" if effects else "not an incident"
                return Plan(before, None, effects, reported=bool(effects), outcome=outcome)
        case Kind.COMMENT if not event.commands:
            decision = Decision(before)
        case Kind.COMMENT:
            ctx = CommandContext(
                hint,
                issue,
                before,
                config,
                event.comment_id,
                snapshot.permitted,
                help_given_at=snapshot.help_given_at,
                gates=snapshot.gates,
                related=snapshot.related,
                last_led=snapshot.history.last_led or {},
            )
            decision = run_commands(list(event.commands), ctx)
        case Kind.SUB_ISSUE:
            assert before is not None and event.child is not None
            if is_follow_up(event.child, config.scheme):
                decision = link_by_hand(hint, before, event.child, config.scheme)
            else:
                decision = link_stabilization_issue(hint, before, event.child, config)
        case Kind.RETRO_CLOSED:
            assert before is not None and event.retro_number is not None
            decision = retro_completed(hint, issue, before, config, event.retro_number)
            decision = after_retro(
                hint, decision, event.retro_body, event.retro_number, config.scheme
            )
        case Kind.WORK:
            # Only the sub-issue's labels change: no record of it, none saved for the parent.
            effects = hold_work(hint, issue, before, config)
            return Plan(
                None, None, effects, outcome="" if effects else "stabilization work in step"
            )
        case Kind.ALERT:
            assert event.alert is not None
            step = on_alert(hint, issue, before, config, event.alert, snapshot.group)
            if step.outcome:
                return Plan(before, before, outcome=step.outcome)
            decision, group = step.decision, step.group
        case Kind.TICK:
            assert before is not None
            extras, last_led = snapshot.history.extras, snapshot.history.last_led or {}
            decision = on_tick(
                before,
                extras.last_human_comment_at,
                config,
                last_led,
                at=hint.at,
                bot=snapshot.history.bot,
            )
        case Kind.STATUS_EDITED | Kind.CATCH_UP | Kind.FOLLOW_UP_CHANGED:
            decision = Decision(before)
    if event.kind in (Kind.ISSUE, Kind.COMMENT) and decision.incident is not None:
        # Anything the lead does on their incident acknowledges it.
        decision = replace(decision, incident=acknowledge(decision.incident, hint.actor, hint.at))
    plan = _follow(event, snapshot, decision)
    return replace(
        plan,
        effects=(*form, *plan.effects),
        human_comment_at=_update_at(event, snapshot),
        others=decision.others,
        alert_group=group,
    )


def _update_at(event: Occurrence, snapshot: Snapshot) -> datetime | None:
    """A comment on an incident that counts as an update: by its lead or a triage+ user."""
    incident = snapshot.incident
    if event.human_comment_at is None or incident is None or not incident.managed:
        return None
    if snapshot.permitted or leads(incident, event.hint.actor):
        return event.human_comment_at
    return None


def _keep_private(event: Occurrence, snapshot: Snapshot) -> Plan:
    """A security report: no public record (a record already there goes), no notice: chat and
    metrics hear nothing of it, nor of its private incident."""
    before = snapshot.incident
    decision = keep_private(
        event.hint,
        snapshot.issue,
        before,
        snapshot.loaded.config,
        copied=snapshot.private_copy,
        status_comment_id=snapshot.history.extras.status_comment_id,
    )
    plan = _follow(event, snapshot, decision)
    return replace(plan, notices=(), forget=before is not None)


def _follow(event: Occurrence, snapshot: Snapshot, decision: Decision) -> Plan:
    """What follows the core's decision: the lead, the retrospective, the status comment."""
    scheme = snapshot.loaded.config.scheme
    known = known_follow_ups(snapshot.sub_issues, decision.plan, scheme, event.hint.at)
    plan = _what_follows(event, snapshot, decision, known.items if known else ())
    return replace(plan, followups=known)


def _what_follows(
    event: Occurrence, snapshot: Snapshot, decision: Decision, listed: tuple[FollowUp, ...]
) -> Plan:
    config, history = snapshot.loaded.config, snapshot.history
    before, after = snapshot.incident, decision.incident
    effects: list[Effect] = []
    notices: list[Notice] = []
    for other in decision.others:
        # Another incident changed too (`/recurrence-of`): its own status comment and notice.
        related = snapshot.related.get(other.number)
        extras = related.extras if related is not None else Extras()
        kept = keep_status(
            other, config, replace(history, extras=extras), retro_number=extras.retro_number
        )
        effects.append(replace(kept, number=other.number))
        was = related.incident if related is not None else None
        notices.append(Notice(was, other, chat=heard(config.chat, was, other)))
    for effect in decision.plan:
        if not isinstance(effect, OpenIssue) or effect.record is None:
            effects.append(effect)
            continue
        # A recurrence opens a new incident: its own lead, status comment and notice.
        new, assign = choose_lead(effect.record, config, history, on=effect.key)
        fresh = replace(history, extras=Extras())
        effects += [replace(effect, record=new), *assign]
        effects.append(keep_status(new, config, fresh, on=effect.key))
        notices.append(Notice(None, new, opened=effect.key, chat=heard(config.chat, None, new)))
    catching_up = event.kind is Kind.CATCH_UP
    rebuilt = event.kind in (Kind.STATUS_EDITED, Kind.FOLLOW_UP_CHANGED)
    if after is None or (after == before and not (rebuilt or catching_up)):
        return Plan(before, after, tuple(effects), tuple(notices))
    if rebuilt:
        retro_known = history.extras.retro_number
        effects.append(
            keep_status(after, config, history, retro_number=retro_known, followups=listed)
        )
        return Plan(before, after, tuple(effects))
    after, assign = choose_lead(after, config, history)
    effects += assign
    # Catching up, the change is not at hand: the retrospective is decided from the state.
    after, retro, number = open_retro(
        None if catching_up else before,
        after,
        config,
        history,
        asked=decision.retro,
        at=event.hint.at,
        followups=listed,
    )
    effects += retro
    if not only_reverted(before, after):
        # A reverted move changes only the timeline, and the revert's own comment says so:
        # the line appears at the next edit, which spares a correction one call.
        effects.append(keep_status(after, config, history, retro_number=number, followups=listed))
    if not catching_up:
        notices.append(Notice(before, after, chat=heard(config.chat, before, after)))
    report = config_report(snapshot.loaded, after.repo_id)
    return Plan(before, after, tuple(effects), tuple(notices), config_report=report)


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()
