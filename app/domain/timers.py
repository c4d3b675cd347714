"""Timer ticks: what is due on an incident at a time (an escalation first, then a reminder)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from app.domain.cadence import reminder_due
from app.domain.config import RepoConfig
from app.domain.durations import format_duration
from app.domain.escalation import escalation_due, hand_over
from app.domain.facts import Decision
from app.domain.plan import PostComment
from app.domain.records import Incident


def due(
    incident: Incident, last_update_at: datetime | None, config: RepoConfig, at: datetime
) -> str | None:
    """The key of what a tick at `at` would do, or None: the scheduler queues one tick per key,
    and the tick decides again from the state it finds (`on_tick`)."""
    if (deadline := escalation_due(incident, config, at)) is not None:
        return f"escalate:{(incident.lead or '').casefold()}:{int(deadline.timestamp())}"
    reminder = reminder_due(incident, last_update_at, config, at)
    return reminder.key if reminder is not None else None


def on_tick(
    incident: Incident,
    last_update_at: datetime | None,
    config: RepoConfig,
    last_led: Mapping[str, datetime],
    *,
    at: datetime,
    bot: str,
) -> Decision:
    """A tick's decision: hand the lead on when its time to acknowledge ran out, else remind."""
    if escalation_due(incident, config, at) is not None and incident.lead is not None:
        within = config.lead.acknowledge_within.of(incident.severity)
        assert within is not None
        why = f"{incident.lead} did not acknowledge within {format_duration(within)}"
        changed, effects = hand_over(
            incident, config, last_led, at=at, actor=bot, why=why, keep_if_alone=True
        )
        return Decision(changed, effects)
    reminder = reminder_due(incident, last_update_at, config, at)
    if reminder is None:
        return Decision(incident)
    return Decision(incident, (PostComment(reminder.key, reminder.body, look_first=True),))
