"""The shell around the core: read the issue and record, decide, apply, save."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import builtin_commands  # noqa: F401  (registers the commands)
from app.apply import apply_plan
from app.command_flow import run_commands
from app.commands import REGISTRY, CommandContext, parse_commands
from app.decide import Hint, Issue, reconcile_labels
from app.github import Client, GitHubApp
from app.inbox import Delivery
from app.issue_form import labels_from_form
from app.label_sync import INSTALLATION_EVENTS, on_installation
from app.labels import DEFAULT_LABELS, LabelScheme
from app.payloads import Event
from app.permissions import PermissionCache
from app.records import Incident
from app.store import IncidentStore

log = logging.getLogger(__name__)

SchemeLookup = Callable[[Client, str], Awaitable[LabelScheme]]
AfterChange = Callable[[Client, Incident | None, Incident], Awaitable[None]]


async def default_scheme(_client: Client, _repo: str) -> LabelScheme:
    return DEFAULT_LABELS


def issue_from_api(repo: str, repo_id: int, data: dict[str, Any]) -> Issue:
    return Issue(
        repo=repo,
        repo_id=repo_id,
        number=int(data["number"]),
        id=int(data["id"]),
        title=str(data.get("title") or ""),
        state=str(data.get("state") or "open"),
        labels=tuple(str(label["name"]) for label in data.get("labels") or []),
        author=str((data.get("user") or {}).get("login") or ""),
    )


@dataclass
class Responder:
    github: GitHubApp
    store: IncidentStore
    scheme_for: SchemeLookup = default_scheme
    permissions: PermissionCache = field(default_factory=PermissionCache)
    # Called after each saved change, in order, with (client, before, after).
    after_change: list[AfterChange] = field(default_factory=list)

    async def handle(self, delivery: Delivery) -> str:
        """Process one delivery; returns a short outcome for the inbox and the logs."""
        event = Event.model_validate_json(delivery.payload)
        if delivery.event == "issues":
            return await self.on_issue_event(delivery, event)
        if delivery.event == "issue_comment":
            return await self.on_comment(delivery, event)
        if delivery.event in INSTALLATION_EVENTS:
            # No issue here: label sync for the repositories the App was given.
            return await on_installation(self.github, self.scheme_for, delivery.event, event)
        return "ignored"

    async def record(
        self,
        client: Client,
        before: Incident | None,
        after: Incident | None,
        *,
        installation_id: int,
    ) -> None:
        """Save a changed incident, then tell every after-change hook (status comment, chat)."""
        if after is None or after == before:
            return
        await self.store.save(after, installation_id=installation_id)
        for hook in self.after_change:
            await hook(client, before, after)

    async def is_own(self, event: Event) -> bool:
        sender = event.sender
        if sender is None or sender.type != "Bot":
            return False
        return sender.login == await self.github.bot_login()

    async def on_issue_event(self, delivery: Delivery, event: Event) -> str:
        if event.issue is None or event.repository is None or event.installation is None:
            return "ignored: incomplete payload"
        if event.issue.pull_request is not None:
            return "ignored: pull request"
        # Our own changes come back as webhooks; they were decided already. No loops.
        if await self.is_own(event):
            return "echo"
        repo = event.repository.full_name
        client = self.github.installation(event.installation.id)
        scheme = await self.scheme_for(client, repo)
        hint = Hint(
            event="issues",
            action=event.action or "",
            actor=event.sender.login if event.sender else "unknown",
            at=event_time(event, delivery.received_at),
            delivery_id=delivery.delivery_id,
            label=event.label.name if event.label else None,
        )
        data = await client.get_issue(repo, event.issue.number)
        incident = await self.store.load(event.repository.id, event.issue.number)
        if incident is None:
            data = await apply_form_answers(client, repo, data, scheme)
        issue = issue_from_api(repo, event.repository.id, data)
        decision = reconcile_labels(hint, issue, incident, scheme)
        if decision.incident is None:
            return "not an incident"
        applied = await apply_plan(
            client, repo, issue.number, decision.plan, retrying=delivery.attempts > 1
        )
        await self.record(
            client, incident, decision.incident, installation_id=event.installation.id
        )
        return "applied " + " ".join(applied) if applied else "in step"

    async def on_comment(self, delivery: Delivery, event: Event) -> str:
        """Run the commands of a new comment; edits and other bots' comments run nothing."""
        if event.action != "created":
            return "ignored: comment " + (event.action or "")
        if (
            event.issue is None
            or event.comment is None
            or event.repository is None
            or event.installation is None
        ):
            return "ignored: incomplete payload"
        if event.issue.pull_request is not None:
            return "ignored: pull request"
        author = event.comment.user or event.sender
        if author is None or author.type == "Bot" or author.login.endswith("[bot]"):
            return "ignored: bot comment"
        commands = [c for c in parse_commands(event.comment.body) if c.name in REGISTRY]
        if not commands:
            return "no commands"
        repo = event.repository.full_name
        client = self.github.installation(event.installation.id)
        scheme = await self.scheme_for(client, repo)
        hint = Hint(
            event="issue_comment",
            action="created",
            actor=author.login,
            at=event_time(event, delivery.received_at),
            delivery_id=delivery.delivery_id,
        )
        data = await client.get_issue(repo, event.issue.number)
        issue = issue_from_api(repo, event.repository.id, data)
        incident = await self.store.load(event.repository.id, issue.number)
        needs_triage = any(REGISTRY[c.name].who != "anyone" for c in commands)
        permitted = needs_triage and await self.permissions.may_triage(client, repo, author.login)
        ctx = CommandContext(hint, issue, incident, scheme, event.comment.id, permitted)
        decision = run_commands(commands, ctx)
        applied = await apply_plan(
            client, repo, issue.number, decision.plan, retrying=delivery.attempts > 1
        )
        await self.record(
            client, incident, decision.incident, installation_id=event.installation.id
        )
        names = ",".join(c.name for c in commands)
        return f"commands {names}: " + (" ".join(applied) if applied else "no change")


async def apply_form_answers(
    client: Client, repo: str, data: dict[str, Any], scheme: LabelScheme
) -> dict[str, Any]:
    """A new incident opened from the issue form: its severity and status answers as labels."""
    labels = [str(label["name"]) for label in data.get("labels") or []]
    if not any(name.casefold() == scheme.incident.casefold() for name in labels):
        return data
    wanted = labels_from_form(data.get("body"), labels, scheme)
    if not wanted:
        return data
    await client.add_labels(repo, int(data["number"]), wanted)
    return {**data, "labels": [*data.get("labels", []), *({"name": n} for n in wanted)]}


def event_time(event: Event, fallback: datetime) -> datetime:
    """GitHub's time of the event: the comment's creation, else the issue's last update."""
    if event.comment is not None and event.comment.created_at is not None:
        return event.comment.created_at
    if event.issue is not None and event.issue.updated_at is not None:
        return event.issue.updated_at
    return fallback
