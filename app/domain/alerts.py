"""Alerts open incidents: one per alert group, then notes, comments and the 48-hour rule."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.domain.alert_payloads import AlertPayload, alert_details, alert_title, severity_of
from app.domain.config import RepoConfig
from app.domain.facts import Decision, Hint, Issue
from app.domain.lifecycle import CLOSED, Status
from app.domain.plan import Effect, OpenIssue, PostComment, SetIssueState
from app.domain.records import EntryKind, Incident, TimelineEntry
from app.domain.transitions import MoveKind, replace_labels, request_move

# A group that keeps firing comments at most this often; the timeline notes every time.
COMMENT_EVERY = timedelta(minutes=10)
# Alerts a comment lists (the issue lists more).
COMMENT_ALERTS = 5


@dataclass(frozen=True)
class AlertGroup:
    """What the app keeps of one alert group (`groupKey`) of a repository."""

    repo_id: int
    group: str  # alert_payloads.group_of(groupKey)
    number: int  # the group's incident (0 until the issue `opened` names has its number)
    status: str = "firing"  # the last notification's
    commented_at: datetime | None = None  # the last comment, on the receiver's clock
    opened: str | None = None  # the key of the issue this plan opens for the group


@dataclass(frozen=True)
class AlertNotice:
    """One stored notification of an alert group, as the worker read it back."""

    payload: AlertPayload
    group: str
    key: str  # its delivery id: keys the comments and issue it may post, once
    received_at: datetime  # the receiver's clock: the comment budget counts with it


@dataclass(frozen=True)
class AlertStep:
    decision: Decision
    group: AlertGroup | None = None  # what to keep of the group now
    outcome: str = ""  # when there is nothing to do: why


def on_alert(
    hint: Hint,
    issue: Issue,
    incident: Incident | None,
    config: RepoConfig,
    notice: AlertNotice,
    group: AlertGroup | None,
) -> AlertStep:
    """An alert group's notification: open its incident, or note it on the one it has.

    `incident` is the group's incident and `issue` its issue (a placeholder when there is
    none); `hint.at` is the alerts' own time, `hint.actor` the App. Every timeline entry it
    adds carries the notification's identity: decided again (a retry after the save), it
    does nothing more.
    """
    ref = f"alert:{notice.key}"
    if incident is not None and incident.has_ref(ref):
        return AlertStep(Decision(incident), outcome="alert: applied already")
    step = _step(hint, issue, incident, config, notice, group)
    return _tagged(step, incident, ref)


def _step(
    hint: Hint,
    issue: Issue,
    incident: Incident | None,
    config: RepoConfig,
    notice: AlertNotice,
    group: AlertGroup | None,
) -> AlertStep:
    payload = notice.payload
    if group is None or incident is None or _withdrawn_before(incident, hint.at):
        if not payload.firing:
            return AlertStep(
                Decision(incident), outcome="alert resolved: its group has no incident"
            )
        return _open(hint, issue, config, notice)
    if not incident.managed:
        return AlertStep(Decision(incident), outcome=f"alert: #{incident.number} was withdrawn")
    if not payload.firing:
        return _resolved(hint, incident, notice, group)
    if incident.status in CLOSED:
        return _fired_after_resolution(hint, issue, incident, config, notice, group)
    return _firing_again(hint, incident, notice, group)


def _tagged(step: AlertStep, before: Incident | None, ref: str) -> AlertStep:
    """The step with `ref` on every entry it added, the issues it opens included."""
    decision = step.decision
    incident = decision.incident
    if incident is not None:
        incident = _tag(incident, len(before.timeline) if before is not None else 0, ref)
    effects = tuple(
        replace(e, record=_tag(e.record, 0, ref))
        if isinstance(e, OpenIssue) and e.record is not None
        else e
        for e in decision.plan
    )
    return replace(step, decision=replace(decision, incident=incident, plan=effects))


def _tag(incident: Incident, start: int, ref: str) -> Incident:
    entries = incident.timeline
    tagged = tuple(e if i < start or e.ref else replace(e, ref=ref) for i, e in enumerate(entries))
    return replace(incident, timeline=tagged)


def _withdrawn_before(incident: Incident, at: datetime) -> bool:
    """A withdrawn incident (a false alarm) and alerts that started firing since: new."""
    if incident.managed:
        return False
    withdrawn = [e.at for e in incident.timeline if e.kind == EntryKind.WITHDRAWN]
    return bool(withdrawn) and at > max(withdrawn)


def _open(hint: Hint, issue: Issue, config: RepoConfig, notice: AlertNotice) -> AlertStep:
    """The group's first firing: an incident issue opened by the App, a trusted declarer."""
    scheme, payload = config.scheme, notice.payload
    severity = severity_of(payload, config.alerts.severity)
    key = f"alert:{notice.key}"
    record = Incident.opened_pending(
        issue.repo,
        issue.repo_id,
        alert_title(payload),
        severity,
        at=hint.at,
        actor=hint.actor,
        detail=f"Recorded as Stabilization pending, severity {int(severity)}, from an alert",
    )
    body = (
        "An alert group started firing, so Incident Flow recorded this incident: severity "
        f"{int(severity)}, from the alerts' `severity` label. When service is stable again, "
        "`/stabilized` records it: the app never decides that.\n\n" + alert_details(payload)
    )
    labels = (
        scheme.incident,
        scheme.severity_label(severity),
        scheme.status_label(Status.STABILIZATION_PENDING),
    )
    effect = OpenIssue(key, record.title, body, labels, record=record, look_first=True)
    group = AlertGroup(issue.repo_id, notice.group, 0, "firing", notice.received_at, opened=key)
    return AlertStep(Decision(None, (effect,)), group)


def _firing_again(
    hint: Hint, incident: Incident, notice: AlertNotice, group: AlertGroup
) -> AlertStep:
    """The group fires again while its incident is open: a note; a comment now and then."""
    firing, resolved = notice.payload.counts()
    entry = TimelineEntry(
        hint.at,
        hint.actor,
        EntryKind.ALERT,
        f"Alert group firing again: {firing} firing, {resolved} resolved",
    )
    effects: tuple[Effect, ...] = ()
    commented = group.commented_at
    if commented is None or notice.received_at - commented >= COMMENT_EVERY:
        text = "The alert group of this incident is firing again."
        effects = (_comment(notice, text),)
        commented = notice.received_at
    kept = replace(group, status="firing", commented_at=commented)
    return AlertStep(Decision(incident.noted(entry), effects), kept)


def _resolved(hint: Hint, incident: Incident, notice: AlertNotice, group: AlertGroup) -> AlertStep:
    """The group resolved: said once, and `/stabilized` suggested; the status never moves."""
    pending = incident.status is Status.STABILIZATION_PENDING
    suggestion = "; `/stabilized` once service is stable" if pending else ""
    entry = TimelineEntry(hint.at, hint.actor, EntryKind.ALERT, f"Alert group resolved{suggestion}")
    effects: tuple[Effect, ...] = ()
    # Once per resolution (a resolved group repeats itself), never on a closed incident.
    if group.status != "resolved" and incident.status not in CLOSED:
        text = "The alerts of this incident's group are resolved."
        if pending:
            text += (
                " If service is stable again, `/stabilized` records it: stabilizing is a "
                "judgement the app leaves to people, so the status stays as it is."
            )
        effects = (_comment(notice, text),)
    kept = replace(group, status="resolved")
    return AlertStep(Decision(incident.noted(entry), effects), kept)


def _fired_after_resolution(
    hint: Hint,
    issue: Issue,
    incident: Incident,
    config: RepoConfig,
    notice: AlertNotice,
    group: AlertGroup,
) -> AlertStep:
    """The group fires after its incident was resolved: the 48-hour rule, as for `/recurred`.

    Alerts that started before the resolution never stopped: that is noted, not a recurrence.
    """
    resolved_at = incident.resolved_at or incident.reviewed_at
    if resolved_at is not None and hint.at <= resolved_at:
        entry = TimelineEntry(
            hint.at,
            hint.actor,
            EntryKind.ALERT,
            "Alert group still firing, since before the resolution",
        )
        return AlertStep(Decision(incident.noted(entry)), replace(group, status="firing"))
    move = request_move(
        incident,
        Status.STABILIZATION_PENDING,
        at=hint.at,
        actor=hint.actor,
        config=config,
        title=issue.title,
    )
    kept = replace(group, status="firing", commented_at=notice.received_at)
    if move.kind is MoveKind.RECURRENCE:
        # A new incident: its issue carries the alerts too, and the group follows it.
        effects = tuple(
            replace(e, body=f"{e.body}\n\n{alert_details(notice.payload)}")
            if isinstance(e, OpenIssue)
            else e
            for e in move.effects
        )
        opened = next(e.key for e in effects if isinstance(e, OpenIssue))
        return AlertStep(Decision(move.incident, effects), replace(kept, number=0, opened=opened))
    hours = int(config.recurrence_window.total_seconds() // 3600)
    labels = replace_labels(
        issue.labels, config.scheme, [config.scheme.status_label(Status.STABILIZATION_PENDING)]
    )
    text = (
        f"The alert group fired again within {hours} hours of the resolution, so this "
        "incident is back to **Stabilization pending** (the 48-hour rule)."
    )
    plan: list[Effect] = [_comment(notice, text), *labels]
    if issue.state == "closed":
        plan.append(SetIssueState("open", "reopened"))
    return AlertStep(Decision(move.incident, tuple(plan)), kept)


def _comment(notice: AlertNotice, text: str) -> PostComment:
    details = alert_details(notice.payload, shown=COMMENT_ALERTS)
    return PostComment(key=f"alert:{notice.key}", body=f"{text}\n\n{details}")
