"""Reads for on-call work: timer ticks, and comments without commands (updates, the lead's word)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.domain.config import LoadedConfig
from app.domain.escalation import leads
from app.domain.facts import Hint, Issue
from app.domain.lifecycle import CLOSED
from app.domain.occurrence import Kind, Occurrence, Snapshot
from app.domain.payloads import Event
from app.queue.inbox import Delivery
from app.service.turns import Routed, Turn

if TYPE_CHECKING:
    from app.service.routes import Router

# Internal deliveries for time passing on an incident (app/service/reminders.py queues them);
# GitHub never sends an event of this name.
TICK_EVENT = "incident-flow.tick"


async def plain_comment(
    router: Router, installation: int, note: Occurrence, issue: Issue
) -> Routed:
    """A comment without commands: an update when its author leads the incident or has triage
    or higher, and the lead's acknowledgement. The permission is asked only when it matters."""
    bare = Snapshot(issue, None, LoadedConfig())
    known = await router.store.load(issue.repo_id, issue.number)
    if known is None or not known.managed:
        return Turn(installation, note, bare, outcome="no commands")
    author = note.hint.actor
    if leads(known, author):
        loaded = await router.reads.config(installation, issue.repo)
        history = await router.history(issue.repo_id, issue.number, known)
        snapshot = Snapshot(issue, known, loaded, history, permitted=False)
        return Turn(installation, note, snapshot, prefix="comment by the lead: ")
    if known.status in CLOSED:
        return Turn(installation, note, bare, outcome="no commands")  # no reminders are owed
    permitted = await router.reads.may_triage(installation, issue.repo, author)
    # Nothing but the update's time can change here: no config or history is needed.
    snapshot = Snapshot(issue, known, LoadedConfig(), permitted=permitted)
    return Turn(installation, note, snapshot, outcome="no commands")


async def on_tick(router: Router, delivery: Delivery, event: Event) -> Routed:
    """Time passed on an incident: the decision finds what is due at the tick's time."""
    repository, installation = event.repository, event.installation
    if repository is None or installation is None or event.number is None or event.at is None:
        return "ignored: incomplete payload"
    repo, repo_id = repository.full_name, repository.id
    incident = await router.store.load(repo_id, event.number)
    if incident is None:
        return "tick: no incident"
    loaded = await router.reads.config(installation.id, repo)
    bot = await router.reads.bot()
    hint = Hint(TICK_EVENT, "tick", bot, event.at, delivery.delivery_id)
    # Nothing in a tick reads the issue's labels: the record says what is due.
    issue = Issue(repo, repo_id, incident.number, 0, incident.title, "open", ())
    history = await router.history(repo_id, incident.number, incident, handover=True)
    snapshot = Snapshot(issue, incident, loaded, history)
    return Turn(installation.id, Occurrence(Kind.TICK, hint), snapshot, prefix="tick: ")
