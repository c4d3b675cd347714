"""Retrospectives: the blameless issue template, and its completion moving to Reviewed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.domain.config import RepoConfig
from app.domain.durations import format_duration
from app.domain.facts import Decision, Hint, Issue
from app.domain.followups import HEADING as FOLLOW_UPS
from app.domain.followups import MAX_FROM_RETRO, PLACEHOLDER
from app.domain.labels import LabelScheme
from app.domain.lifecycle import SEVERITY_MEANINGS, Status
from app.domain.plan import AddLabels, Effect, OpenIssue, PostComment, RemoveLabel
from app.domain.records import EntryKind, Incident, TimelineEntry
from app.domain.status_comment import format_time, quiet, render_timeline
from app.domain.transitions import MoveKind, request_move


def retro_key(incident: Incident) -> str:
    return f"retro:{incident.number}"


def retrospective_issue(incident: Incident, followups: Sequence[str] = ()) -> OpenIssue:
    """The retrospective, filled in with whatever the record already knows.

    `followups`: the incident's follow-ups so far (app/domain/followups.py renders them).
    """
    opened_so_far = ["Opened so far:", "", *followups, ""] if followups else []
    severity = (
        f"{int(incident.severity)} ({SEVERITY_MEANINGS[incident.severity]})"
        if incident.severity
        else "not set"
    )
    facts = [
        f"- **Incident:** #{incident.number} {quiet(incident.title)}".rstrip(),
        f"- **Severity:** {severity}",
        f"- **Lead:** @{incident.lead}" if incident.lead else "- **Lead:** none recorded",
        f"- **Recorded:** {format_time(incident.declared_at)} by {incident.declared_by}",
        *(
            [f"- **Impact began:** {format_time(incident.impact_started_at)}"]
            if incident.impact_started_at is not None
            else []
        ),
        f"- **Stabilized:** {_milestone(incident.declared_at, incident.stabilized_at)}",
        f"- **Resolved:** {_milestone(incident.declared_at, incident.resolved_at)}",
    ]
    body = "\n".join(
        [
            f"Retrospective for incident #{incident.number}. It is blameless: we look for how "
            "our systems and process let this happen and how to make it less likely, never "
            "for whom to blame.",
            "",
            f"Closing this issue as **completed** marks #{incident.number} Reviewed and closes "
            "it; closing it as not planned changes nothing.",
            "",
            "## Summary",
            "",
            *facts,
            "",
            "_What happened, in two or three sentences; the mitigation and the solution._",
            "",
            "## Impact",
            "",
            "_Who and what was affected, how badly, and for how long._",
            "",
            "## Timeline",
            "",
            *render_timeline(incident.timeline),
            "",
            "## 5 whys",
            "",
            "_Start from the problem and ask why it happened, then why that happened, until "
            "you reach causes we can act on._",
            "",
            *[f"{n}. Why?" for n in range(1, 6)],
            "",
            f"## {FOLLOW_UPS}",
            "",
            "_One line per action, `- [ ] what to do`; mark the ones that prevent a "
            "recurrence. When this issue is closed as completed, each unchecked item becomes "
            f"a follow-up issue (at most {MAX_FROM_RETRO}); `/followup TITLE` on the incident "
            "opens one now._",
            "",
            *opened_so_far,
            f"- [ ] {PLACEHOLDER}",
        ]
    )
    title = f"Retrospective: {incident.title or 'incident'} (#{incident.number})"
    assignees = (incident.lead,) if incident.lead else ()
    return OpenIssue(
        retro_key(incident), title, body, assignees=assignees, sub_issue_of=incident.number
    )


def retro_completed(
    hint: Hint, issue: Issue, incident: Incident, config: RepoConfig, retro_number: int
) -> Decision:
    """The retrospective was closed as completed: Resolved → Reviewed, and close the incident.

    The move is decided by the same rule as `/reviewed` (app/domain/transitions.py).
    """
    if not incident.managed:
        return Decision(incident)
    move = request_move(
        incident,
        Status.REVIEWED,
        at=hint.at,
        actor=hint.actor,
        config=config,
        title=issue.title,
    )
    if move.kind is MoveKind.SAME:
        return Decision(incident)
    if move.kind is not MoveKind.MOVED:
        text = (
            f"Retrospective #{retro_number} was closed, but this incident is "
            f"**{incident.status.display}**, and only a Resolved incident can become Reviewed. "
            "It stays as it is; resolve it, then close the retrospective again."
        )
        return Decision(incident, (PostComment(f"retro-closed:{hint.delivery_id}", text),))
    note = TimelineEntry(
        hint.at, hint.actor, EntryKind.RETRO, f"Retrospective #{retro_number} completed"
    )
    labels = _status_label_changes(issue, config.scheme, Status.REVIEWED)
    return Decision(move.incident.noted(note), (*labels, *move.effects))


def _status_label_changes(issue: Issue, scheme: LabelScheme, target: Status) -> list[Effect]:
    """Add the target's status label and remove every other status label."""
    wanted = scheme.status_label(target)
    present = [label for label in issue.labels if scheme.status_of(label) is not None]
    plan: list[Effect] = []
    if not any(label.casefold() == wanted.casefold() for label in present):
        plan.append(AddLabels((wanted,)))
    plan += [RemoveLabel(label) for label in present if scheme.status_of(label) is not target]
    return plan


def _milestone(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "not yet"
    return f"{format_time(end)} ({format_duration(end - start)} after it was recorded)"
