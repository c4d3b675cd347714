"""One table from (event, action) to what a delivery's decision is read from: for the service
and for `incident-flow replay` alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.domain.commands import Command
from app.domain.config import CONFIG_PATH, LoadedConfig
from app.domain.facts import Hint, Issue
from app.domain.followup import History
from app.domain.gates import wanted_for_labels
from app.domain.lifecycle import CLOSED, Status
from app.domain.occurrence import Kind, Occurrence, Snapshot
from app.domain.payloads import Event
from app.domain.records import Incident
from app.domain.work import concerns_work
from app.github.sources import (
    Reads,
    event_time,
    github_time,
    hint_for,
    issue_from_api,
    labelled,
)
from app.queue.inbox import Delivery
from app.service import comment_routes, intake_routes
from app.service.follow_through import (
    follow_up_changed,
    follow_up_parent,
    may_be_security_report,
    private_copy,
    sub_issues,
)
from app.service.gate_reads import gates_of, work_snapshot
from app.service.oncall_routes import TICK_EVENT, on_tick
from app.service.turns import Routed, Turn
from app.storage.alert_groups import AlertGroups
from app.storage.bookkeeping import Bookkeeping
from app.storage.store import IncidentStore

# Internal deliveries that finish an unfinished plan; GitHub never sends an event of this name.
FOLLOW_UP_EVENT = "incident-flow.follow-up"
# Label changes: the sidebar sends one delivery per label, all after the change.
SIDEBAR_ACTIONS = frozenset({"labeled", "unlabeled"})


async def _never(_key: str, _at: datetime | None) -> bool:
    return False


@dataclass
class Router:
    """Reads each kind of delivery's snapshot: every read a decision needs, and no more."""

    reads: Reads
    store: IncidentStore
    books: Bookkeeping
    # Whether a later read covered a change (sidebar changes); by default none did.
    covered: Callable[[str, datetime | None], Awaitable[bool]] = field(default=_never)
    # Each comment's parsed commands, offered to the metrics (a comment is parsed once).
    seen: Callable[[Delivery, list[Command]], None] = field(default=lambda _d, _c: None)
    # Alert groups and their incidents (built on the store's database when not given).
    groups: AlertGroups | None = None

    async def route(self, delivery: Delivery, event: Event) -> Routed:
        route = ROUTES.get((delivery.event, event.action)) or ROUTES.get((delivery.event, None))
        if route is None:
            return "ignored"
        return await route(self, delivery, event)

    async def is_own(self, event: Event) -> bool:
        sender = event.sender
        if sender is None or not sender.is_bot:
            return False
        return sender.login == await self.reads.bot()

    async def history(
        self, repo_id: int, number: int, incident: Incident | None, *, handover: bool = False
    ) -> History:
        needs_lead = _needs_lead(incident, handover=handover)
        return History(
            extras=await self.books.extras(repo_id, number),
            last_led=await self.books.last_led(repo_id) if needs_lead else None,
            bot=await self.reads.bot(),
        )

    async def snapshot(
        self,
        installation: int,
        issue: Issue,
        incident: Incident | None,
        loaded: LoadedConfig,
        history: History | None = None,
        *,
        gated: bool = False,
        always: bool = False,
        **more: Any,
    ) -> Snapshot:
        """The state to decide from: the record's history; its sub-issues once it has
        follow-ups, or `always` (app/service/follow_through.py); and, `gated`, what may hold
        a move (app/service/gate_reads.py). The sub-issues are listed once for both."""
        if history is None:
            history = await self.history(issue.repo_id, issue.number, incident)
        listed = await sub_issues(
            self.reads, installation, issue.repo, issue.repo_id, incident, always=always
        )
        gates = None
        if gated:
            scheme = loaded.config.scheme
            gates = await gates_of(self.reads, installation, issue, scheme, history, listed)
        return Snapshot(issue, incident, loaded, history, gates=gates, sub_issues=listed, **more)

    async def on_issue(self, delivery: Delivery, event: Event) -> Routed:
        if event.issue is None or event.repository is None or event.installation is None:
            return "ignored: incomplete payload"
        if event.issue.pull_request is not None:
            return "ignored: pull request"
        # Our own changes come back as webhooks; they were decided already. No loops.
        if await self.is_own(event):
            return "echo"
        key = event.issue_key() or ""
        sidebar = event.action in SIDEBAR_ACTIONS
        parent = follow_up_parent(event)  # a follow-up's key is its incident's: never covered
        if sidebar and parent is None and await self.covered(key, event.issue.updated_at):
            # The other half of a sidebar change already read and acted on: no call needed.
            return "covered by an earlier read"
        installation, repo, repo_id = event.installation.id, *_repo(event)
        hint = hint_for("issues", event, delivery.delivery_id, delivery.received_at)
        loaded = await self.reads.config(installation, repo)
        scheme = loaded.config.scheme
        declared = any(_same(x.name, scheme.incident) for x in event.issue.labels)

        def needs_lead(known: Incident | None) -> bool:  # never for an ordinary issue
            return (known is not None or declared) and _needs_lead(known)

        # The record and what the lead choice needs beside it: one read transaction.
        kept = await self.store.load_kept(repo_id, event.issue.number, needs_lead)
        incident = kept.incident
        if incident is None and not declared:
            if sidebar and event.label is not None and concerns_work(event.label.name, scheme):
                # A priority or stabilization label on what may be an incident's sub-issue.
                work = await work_snapshot(self.reads, self.store, installation, event, loaded)
                if isinstance(work, str):
                    return work
                (snapshot, read), occurrence = work, Occurrence(Kind.WORK, hint)
                return Turn(installation, occurrence, snapshot, prefix="sub-issue: ", read=read)
            if parent is not None:
                made = await follow_up_changed(self, delivery, event, parent)
                outcome = f"follow-up {event.action}: #{parent}'s status comment rebuilt"
                return made if isinstance(made, str) else Turn(installation, *made, outcome=outcome)
            if not may_be_security_report(event, scheme):
                # Saves a read of every ordinary issue: `incident` added later is a delivery too.
                return "not an incident"
        data, read_at = await self.reads.issue(installation, repo, event.issue.number)
        if incident is None and labelled(data, scheme.incident):
            permitted = await self.reads.may_declare(installation, repo, event, data)
            hint = replace(hint, declarer_permitted=permitted)
        issue = issue_from_api(repo, repo_id, data)
        last_led = kept.last_led
        if last_led is None and _needs_lead(incident):  # labelled since the delivery was sent
            last_led = await self.books.last_led(repo_id)
        history = History(kept.extras, last_led=last_led, bot=await self.reads.bot())
        # A move toward Resolved or Reviewed: what may hold it, in the same one call.
        gated = wanted_for_labels(incident, issue.labels, scheme, history.extras.retro_number)
        copied = await private_copy(self.reads, installation, issue, incident, loaded.config)
        snapshot = await self.snapshot(
            installation, issue, incident, loaded, history, gated=gated, private_copy=copied
        )
        read = (github_time(data.get("updated_at")), read_at)
        return Turn(installation, Occurrence(Kind.ISSUE, hint), snapshot, read=read)

    async def on_issue_closed(self, delivery: Delivery, event: Event) -> Routed:
        """A retrospective closed as completed moves its incident to Reviewed."""
        if event.issue is not None and event.repository is not None and event.installation:
            repo, repo_id = _repo(event)
            number = await self.books.incident_for_retro(repo_id, event.issue.number)
            reason = event.issue.state_reason
            if number is not None and reason != "completed":
                return f"retrospective closed as {reason}: no change"
            incident = await self.store.load(repo_id, number) if number is not None else None
            if number is not None and incident is not None:
                installation = event.installation.id
                loaded = await self.reads.config(installation, repo)
                hint = Hint(
                    event="issues",
                    action="closed",
                    actor=event.sender.login if event.sender else "unknown",
                    at=event_time(event, delivery.received_at),
                    delivery_id=delivery.delivery_id,
                    label=loaded.config.scheme.status_label(Status.REVIEWED),
                )
                data, _ = await self.reads.issue(installation, repo, number)
                issue = issue_from_api(repo, repo_id, data)
                retro, body = event.issue.number, event.issue.body or ""
                occurrence = Occurrence(
                    Kind.RETRO_CLOSED, hint, retro_number=retro, retro_body=body
                )
                snapshot = await self.snapshot(installation, issue, incident, loaded)
                prefix = f"retrospective #{retro} completed: "
                return Turn(installation, occurrence, snapshot, prefix=prefix)
        return await self.on_issue(delivery, event)

    async def on_sub_issue(self, delivery: Delivery, event: Event) -> Routed:
        """A sub-issue linked to an incident by hand is stabilization work while pending."""
        if event.sub_issue is None or event.parent_issue is None:
            return "ignored: incomplete payload"
        if event.repository is None or event.installation is None:
            return "ignored: incomplete payload"
        if await self.is_own(event):
            return "echo"
        installation, repo, repo_id = event.installation.id, *_repo(event)
        hint = hint_for("sub_issues", event, delivery.delivery_id, delivery.received_at)
        loaded = await self.reads.config(installation, repo)
        data, _ = await self.reads.issue(installation, repo, event.parent_issue.number)
        incident = await self.store.load(repo_id, event.parent_issue.number)
        if incident is None:
            return "not an incident"
        issue = issue_from_api(repo, repo_id, data)
        child = issue_from_api(repo, repo_id, event.sub_issue.model_dump())
        occurrence = Occurrence(Kind.SUB_ISSUE, hint, child=child)
        # The new sub-issue may be a follow-up: the list is read (a rare event, one call).
        snapshot = await self.snapshot(installation, issue, incident, loaded, always=True)
        return Turn(installation, occurrence, snapshot)

    async def ignored(self, delivery: Delivery, event: Event) -> Routed:
        what = "comment " if delivery.event == "issue_comment" else ""
        return f"ignored: {what}{event.action or ''}"

    async def on_push(self, delivery: Delivery, event: Event) -> Routed:
        """A push that changes the config file: it is read again at the next decision."""
        if event.repository is None or not event.pushed(CONFIG_PATH):
            return "push: config unchanged"
        self.reads.config_changed(event.repository.full_name)
        return "push: config will be read again"

    async def on_alert(self, delivery: Delivery, event: Event) -> Routed:
        """An alert group's notification (app/service/intake_routes.py)."""
        read = await intake_routes.alert_turn(self, delivery, event)
        if isinstance(read, str) or event.installation is None:
            return str(read)
        occurrence, snapshot = read
        prefix = f"alert {occurrence.hint.action}: "
        return Turn(event.installation.id, occurrence, snapshot, prefix=prefix)

    async def on_follow_up(self, delivery: Delivery, event: Event) -> Routed:
        """Finish an unfinished plan, in the incident's queue (app/service/catch_up.py)."""
        if event.repository is None or event.installation is None or event.number is None:
            return "ignored: incomplete payload"
        repo, repo_id = _repo(event)
        incident = await self.store.load(repo_id, event.number)
        if incident is None:
            return "follow-up: no incident"
        installation = event.installation.id
        loaded = await self.reads.config(installation, repo)
        at = incident.timeline[-1].at if incident.timeline else incident.declared_at
        bot = await self.reads.bot()
        hint = Hint(FOLLOW_UP_EVENT, "catch-up", bot, at, delivery.delivery_id)
        issue = Issue(repo, repo_id, incident.number, 0, incident.title, "open", ())
        snapshot = await self.snapshot(installation, issue, incident, loaded)
        occurrence = Occurrence(Kind.CATCH_UP, hint)
        return Turn(installation, occurrence, snapshot, outcome="follow-up done")


Route = Callable[[Router, Delivery, Event], Awaitable[Routed]]
# (event, action) → route; action None: every other action of that event. Installations are
# the responder's own (label sync writes at once; `replay` describes it instead).
ROUTES: dict[tuple[str, str | None], Route] = {
    ("issues", "closed"): Router.on_issue_closed,
    ("issues", None): Router.on_issue,
    ("issue_comment", "created"): comment_routes.on_comment,
    ("issue_comment", "edited"): comment_routes.on_comment_changed,
    ("issue_comment", "deleted"): comment_routes.on_comment_changed,
    ("issue_comment", None): Router.ignored,
    ("sub_issues", "sub_issue_added"): Router.on_sub_issue,
    ("sub_issues", None): Router.ignored,
    (FOLLOW_UP_EVENT, None): Router.on_follow_up,
    (intake_routes.ALERT_EVENT, None): Router.on_alert,
    (TICK_EVENT, None): on_tick,
    ("push", None): Router.on_push,
}


def _needs_lead(incident: Incident | None, *, handover: bool = False) -> bool:
    """The lead's history is read only when a lead may be chosen: a new incident, one without
    a lead, one that may recur as a new incident, or a hand-over (`handover`)."""
    return handover or incident is None or incident.lead is None or incident.status in CLOSED


def _repo(event: Event) -> tuple[str, int]:
    assert event.repository is not None
    return event.repository.full_name, event.repository.id


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()
