"""The shell after each change: repo config, the lead, retrospectives and the status comment."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app import followup_commands  # noqa: F401  (registers /lead, /timeline, /retro)
from app.apply import apply_plan
from app.bookkeeping import Bookkeeping
from app.commands import REGISTRY
from app.config import LoadedConfig, format_errors, push_touches_config
from app.config_source import ConfigCache
from app.decide import Hint
from app.github import Client, GitHubRefused, marker
from app.inbox import Delivery, Envelope, Inbox
from app.last_good import LastGoodConfigs
from app.leads import pick_lead
from app.lifecycle import Status
from app.payloads import Event
from app.plan import Assign
from app.records import Incident, TimelineEntry
from app.reminders import ReminderScheduler
from app.responder import Responder, Turn, event_time, issue_from_api
from app.retrospectives import retro_completed, retrospective_issue, wants_retro
from app.status_comment import STATUS_KEY, commands_for_moves, render_status

log = logging.getLogger(__name__)

# Internal deliveries that finish a follow-up; GitHub never sends an event of this name.
FOLLOW_UP_EVENT = "incident-flow.follow-up"
CATCH_UP_EVERY = 300.0


@dataclass
class FollowUp:
    responder: Responder
    configs: ConfigCache
    books: Bookkeeping
    inbox: Inbox | None = None  # where `catch_up` queues unfinished follow-ups

    # After every saved change ------------------------------------------------------

    async def after_change(self, client: Client, before: Incident | None, after: Incident) -> None:
        # A failure below leaves the flag set; `catch_up` finishes the work a minute later,
        # since a retried delivery finds the record saved and changes nothing.
        await self.books.set_due(after.repo_id, after.number, True)
        await self.follow(client, before, after)
        await self.books.set_due(after.repo_id, after.number, False)

    async def follow(self, client: Client, before: Incident | None, after: Incident) -> None:
        """Config report, lead, retrospective and status comment for a changed incident.

        Always runs in the worker, in the incident's own queue (catch-ups too): never two at
        once for one incident, on any instance.
        """
        loaded = await self.configs.get(client, after.repo)
        await self._report_config(client, after, loaded)
        if after.managed and after.lead is None:
            after = await self._choose_lead(client, after, loaded)
        if wants_retro(before, after, loaded.config):
            after = await self.ensure_retro(client, after)
        if only_reverted(before, after):
            # A reverted move changed nothing the status comment shows but its timeline, and
            # the revert's own comment is on the issue: the line appears at the next edit,
            # which spares a correction one call (of its four).
            return
        await self.refresh_status(client, after)

    async def _report_config(
        self, client: Client, incident: Incident, loaded: LoadedConfig
    ) -> None:
        """Say what is wrong with an invalid config once per file version, on this incident."""
        if loaded.valid:
            return
        async with self.books.once(f"config-error:{incident.repo_id}:{loaded.version}") as won:
            if won:
                await client.post_comment(
                    incident.repo,
                    incident.number,
                    f"config-error:{loaded.version}",
                    format_errors(loaded),
                    check_first=True,
                )

    async def _choose_lead(
        self, client: Client, incident: Incident, loaded: LoadedConfig
    ) -> Incident:
        choice = pick_lead(
            at=incident.declared_at,
            recorder=incident.declared_by,
            config=loaded.config.lead,
            last_led=await self.books.last_led(incident.repo_id),
        )
        if choice.login is None:
            return incident
        entry = TimelineEntry(
            incident.declared_at,
            await self.responder.github.bot_login(),
            "lead",
            f"Lead: {choice.login} ({choice.reason})",
            to_value=choice.login,
        )
        # Assign before saving: a failure in between is caught up and assigns again (harmless),
        # while a saved lead that was never assigned would stay unassigned.
        await apply_plan(
            client, incident.repo, incident.number, (Assign(add=(choice.login,)),), retrying=False
        )
        chosen = replace(incident, lead=choice.login).noted(entry)
        await self.responder.store.save(chosen)
        return chosen

    async def ensure_retro(self, client: Client, incident: Incident) -> Incident:
        """Open the retrospective once: the database remembers it, its marker finds it again."""
        extras = await self.books.extras(incident.repo_id, incident.number)
        if extras.retro_number is not None:
            return incident
        effect = retrospective_issue(incident)
        # Always look for its marker first: the database may have lost what the issues keep.
        applied = await apply_plan(client, incident.repo, incident.number, (effect,), retrying=True)
        opened = applied.opened[effect.key]
        number = int(opened["number"])
        await self.books.set_retro(incident.repo_id, incident.number, number)
        entry = TimelineEntry(
            _github_time(opened.get("created_at"), incident.timeline[-1].at),
            await self.responder.github.bot_login(),
            "retro",
            f"Retrospective #{number} opened",
        )
        noted = incident.noted(entry)
        await self.responder.store.save(noted)
        return noted

    async def refresh_status(self, client: Client, incident: Incident) -> None:
        """Edit the one status comment in place; post it again if it was lost."""
        extras = await self.books.extras(incident.repo_id, incident.number)
        scheme = (await self.configs.get(client, incident.repo)).config.scheme
        text = render_status(
            incident,
            scheme,
            commands=commands_for_moves(REGISTRY),
            retro_number=extras.retro_number,
        )
        comment_id = extras.status_comment_id
        if comment_id is None:
            found = await client.find_comment(incident.repo, incident.number, STATUS_KEY)
            comment_id = int(found["id"]) if found else None
        if comment_id is not None:
            try:
                await client.update_comment(
                    incident.repo, comment_id, f"{text}\n\n{marker(STATUS_KEY)}"
                )
            except GitHubRefused as exc:
                if exc.status != 404:
                    raise
                comment_id = None  # deleted by hand: post it again
        if comment_id is None:
            posted = await client.post_comment(incident.repo, incident.number, STATUS_KEY, text)
            comment_id = int(posted["id"])
        if comment_id != extras.status_comment_id:
            await self.books.set_status_comment(incident.repo_id, incident.number, comment_id)

    async def catch_up(self) -> list[str]:
        """Queue the follow-up of changes whose hook failed; returns the "repo_id#number"s.

        The work itself runs in the worker, in the incident's own queue, so it can never
        interleave with a delivery for the same incident on any instance.
        """
        queued: list[str] = []
        bucket = int(time.time() // CATCH_UP_EVERY)  # at most one queued per incident per bucket
        for repo_id, number, installation_id in await self.books.due():
            incident = await self.responder.store.load(repo_id, number)
            if incident is None or self.inbox is None:
                continue
            key = f"{repo_id}#{number}"
            payload = {
                "repository": {"id": repo_id, "full_name": incident.repo},
                "installation": {"id": installation_id},
                "number": number,
            }
            await self.inbox.store(
                Envelope(
                    delivery_id=f"follow-up:{key}:{bucket}",
                    event=FOLLOW_UP_EVENT,
                    action=None,
                    installation_id=installation_id,
                    repo=incident.repo,
                    issue_key=key,
                    payload=json.dumps(payload),
                )
            )
            queued.append(key)
        return queued

    async def on_follow_up(self, delivery: Delivery, event: Event) -> str:
        """Finish a failed follow-up, in the incident's queue (see `catch_up`)."""
        if event.repository is None or event.installation is None:
            return "ignored: incomplete payload"
        number = int(json.loads(delivery.payload)["number"])
        incident = await self.responder.store.load(event.repository.id, number)
        if incident is None:
            return "follow-up: no incident"
        client = self.responder.github.installation(event.installation.id)
        # Without the change at hand, the retrospective is decided from the state.
        await self.follow(client, None, incident)
        await self.books.set_due(incident.repo_id, number, False)
        return "follow-up done"

    # Deliveries ---------------------------------------------------------------------

    async def on_push(self, delivery: Delivery, event: Event) -> str:
        payload: dict[str, Any] = json.loads(delivery.payload)
        if event.repository is None or not push_touches_config(payload):
            return "push: config unchanged"
        self.configs.invalidate(event.repository.full_name)
        return "push: config will be read again"

    async def on_comment(self, delivery: Delivery, event: Event) -> str | None:
        """Note human comment times (for reminders); rebuild a hand-edited status comment."""
        if (
            event.issue is None
            or event.comment is None
            or event.repository is None
            or event.installation is None
            or event.issue.pull_request is not None
        ):
            return None
        author = event.comment.user or event.sender
        human = author is not None and author.type != "Bot" and not author.login.endswith("[bot]")
        repo_id, number = event.repository.id, event.issue.number
        if event.action == "created" and human and event.comment.created_at is not None:
            await self.books.note_human_comment(repo_id, number, event.comment.created_at)
            return None  # commands in it still run
        if event.action in ("edited", "deleted") and not await self.responder.is_own(event):
            extras = await self.books.extras(repo_id, number)
            if extras.status_comment_id != event.comment.id:
                return None
            incident = await self.responder.store.load(repo_id, number)
            if incident is None:
                return None
            client = self.responder.github.installation(event.installation.id)
            await self.refresh_status(client, incident)
            return f"status comment {event.action} by hand: rebuilt"
        return None

    async def on_issue(self, delivery: Delivery, event: Event) -> str | None:
        """A retrospective closed as completed moves its incident to Reviewed."""
        if (
            event.action != "closed"
            or event.issue is None
            or event.repository is None
            or event.installation is None
        ):
            return None
        repo, repo_id = event.repository.full_name, event.repository.id
        number = await self.books.incident_for_retro(repo_id, event.issue.number)
        if number is None:
            return None
        if event.issue.state_reason != "completed":
            return f"retrospective closed as {event.issue.state_reason}: no change"
        incident = await self.responder.store.load(repo_id, number)
        if incident is None:
            return None
        client = self.responder.github.installation(event.installation.id)
        config = (await self.configs.get(client, repo)).config
        scheme = config.scheme
        hint = Hint(
            event="issues",
            action="closed",
            actor=event.sender.login if event.sender else "unknown",
            at=event_time(event, delivery.received_at),
            delivery_id=delivery.delivery_id,
            label=scheme.status_label(Status.REVIEWED),
        )
        issue = issue_from_api(repo, repo_id, await client.get_issue(repo, number))
        decision = retro_completed(hint, issue, incident, config, event.issue.number)
        turn = Turn(client, event.installation.id, config, hint, issue, incident)
        outcome = await self.responder._carry_out(turn, decision, delivery)
        return f"retrospective #{event.issue.number} completed: {outcome}"


def _github_time(value: object, fallback: datetime) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return fallback


def install(
    responder: Responder,
    books: Bookkeeping,
    inbox: Inbox | None = None,
    *,
    config_ttl_seconds: float = 300.0,
    reminder_interval_seconds: float = 60.0,
) -> tuple[FollowUp, ReminderScheduler]:
    """Wire config, leads, status comments, retrospectives and reminders into the responder."""
    configs = ConfigCache(ttl=config_ttl_seconds, keeper=LastGoodConfigs(books.engine))
    followup = FollowUp(responder, configs, books, inbox)
    responder.configs = configs
    responder.after_change.append(followup.after_change)
    for name, handler in (
        (FOLLOW_UP_EVENT, followup.on_follow_up),
        ("push", followup.on_push),
        ("issue_comment", followup.on_comment),
        ("issues", followup.on_issue),
    ):
        responder.handlers.setdefault(name, []).append(handler)
    reminders = ReminderScheduler(
        responder.github,
        books,
        configs,
        interval_seconds=reminder_interval_seconds,
        jobs=[followup.catch_up],
    )
    return followup, reminders


def only_reverted(before: Incident | None, after: Incident) -> bool:
    """The record gained only "reverted" timeline entries: the incident itself is unchanged."""
    if before is None or after.timeline[: len(before.timeline)] != before.timeline:
        return False
    added = after.timeline[len(before.timeline) :]
    return (
        bool(added)
        and all(entry.kind == "reverted" for entry in added)
        and (replace(after, timeline=before.timeline) == before)
    )
