"""What one decision is made from: what the delivery says happened, and the state as read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from app.domain.alerts import AlertGroup, AlertNotice
from app.domain.commands import Command
from app.domain.config import LoadedConfig
from app.domain.facts import Hint, Issue, Related
from app.domain.followup import History
from app.domain.gates import Gates
from app.domain.records import Incident


class Kind(StrEnum):
    """What a delivery asks to be decided."""

    ISSUE = "issue"  # an issue changed: converge its labels, state and the record
    COMMENT = "comment"  # a person commented: note the time, run the commands
    STATUS_EDITED = "status-edited"  # our status comment was edited or deleted by hand
    SUB_ISSUE = "sub-issue"  # a sub-issue was linked
    RETRO_CLOSED = "retro-closed"  # a retrospective was closed as completed
    WORK = "work"  # a label changed on an incident's sub-issue: stabilization work holds
    FOLLOW_UP_CHANGED = "follow-up-changed"  # a follow-up closed or reopened: the list shows it
    CATCH_UP = "catch-up"  # a plan that did not finish, decided again from the state
    ALERT = "alert"  # an alert group's notification (app/domain/alerts.py)
    TICK = "tick"  # time passed: an acknowledgement overdue, a reminder owed (app/domain/timers.py)


@dataclass(frozen=True)
class Occurrence:
    """What the delivery says happened (its hint), and what the kind of delivery brings."""

    kind: Kind
    hint: Hint
    commands: tuple[Command, ...] = ()
    comment_id: int = 0
    human_comment_at: datetime | None = None  # a person's comment: perhaps an update (below)
    child: Issue | None = None  # the sub-issue linked
    retro_number: int | None = None  # the retrospective closed
    retro_body: str = ""  # its body as it was closed: the action items
    alert: AlertNotice | None = None  # the alert notification


@dataclass(frozen=True)
class Snapshot:
    """The state one decision is made from, read by the shell just before."""

    # The incident's issue as read from GitHub; for Kind.WORK, the sub-issue whose labels
    # changed, and `incident` the record of its parent.
    issue: Issue
    incident: Incident | None  # our record of it
    loaded: LoadedConfig  # the repo config in force: the one config value of the decision
    history: History = field(default_factory=History)
    permitted: bool = True  # the commenter has triage or higher (comments)
    help_given_at: datetime | None = None  # when `/help` was last answered here (comments)
    # The open sub-issues that may hold a move, read only when one may be asked
    # (app/domain/gates.py: `wanted_for_labels`, `wanted_for_commands`); None: not read.
    gates: Gates | None = None
    group: AlertGroup | None = None  # the alert group and its incident (alerts)
    # Other issues the commands name, by number (`/recurrence-of #N`: #N's issue and record).
    related: Mapping[int, Related] = field(default_factory=dict)
    # The incident's sub-issues, read only once it has follow-ups (followups.needs_sub_issues).
    sub_issues: tuple[Issue, ...] | None = None
    # A security report's private incident: opened already (True), not yet (False), or its
    # repository could not be read (None); read only for a security report (security.py).
    private_copy: bool | None = None
