"""The shell around the core: read the issue and record, decide, apply, save."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from app import builtin_commands  # noqa: F401  (registers the commands)
from app.apply import apply_plan
from app.command_flow import HELP_EVERY, MAX_COMMANDS, help_given_at, run_commands
from app.commands import REGISTRY, Command, CommandContext, parse_commands
from app.config import RepoConfig
from app.config_source import ConfigSource, Defaults
from app.decide import Decision, Hint, Issue, link_stabilization_issue, reconcile_issue
from app.github import Client, GitHubApp, GitHubRefused
from app.inbox import Delivery
from app.issue_form import labels_from_form
from app.label_sync import INSTALLATION_EVENTS, on_installation
from app.labels import LabelScheme
from app.payloads import Event
from app.permissions import PermissionCache
from app.plan import OpenIssue, PostComment
from app.reads import ReadLog
from app.records import Incident
from app.store import IncidentStore

log = logging.getLogger(__name__)

# Label changes: the sidebar sends one delivery per label, all after the change.
SIDEBAR_ACTIONS = frozenset({"labeled", "unlabeled"})

AfterChange = Callable[[Client, Incident | None, Incident], Awaitable[None]]
# Tried before the built-in handling of its event; an outcome ends it, None passes it on.
EventHandler = Callable[[Delivery, Event], Awaitable[str | None]]


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
        created_at=_github_time(data.get("created_at")),
    )


@dataclass
class Responder:
    github: GitHubApp
    store: IncidentStore
    # The repo config in force: read once per decision.
    configs: ConfigSource = field(default_factory=Defaults)
    permissions: PermissionCache = field(default_factory=PermissionCache)
    # Called after each saved change, in order, with (client, before, after).
    after_change: list[AfterChange] = field(default_factory=list)
    reads: ReadLog = field(default_factory=ReadLog)
    # Extra handlers per event name (config pushes, retrospectives, comment times).
    handlers: dict[str, list[EventHandler]] = field(default_factory=dict)
    # Each comment delivery's parsed command names, until the metrics take them.
    _commands_seen: dict[int, tuple[str, ...]] = field(default_factory=dict, init=False)

    async def handle(self, delivery: Delivery) -> str:
        """Process one delivery; returns a short outcome for the inbox and the logs."""
        try:
            return await self._route(delivery)
        except GitHubRefused as exc:
            if exc.status in (404, 410):
                # Deleted or transferred since the delivery: nothing is left to hold to policy.
                return f"gone: {exc}"[:200]
            raise

    async def _route(self, delivery: Delivery) -> str:
        event = Event.model_validate_json(delivery.payload)
        for extra in self.handlers.get(delivery.event, []):
            outcome = await extra(delivery, event)
            if outcome is not None:
                return outcome
        if delivery.event == "issues":
            return await self.on_issue_event(delivery, event)
        if delivery.event == "issue_comment":
            return await self.on_comment(delivery, event)
        if delivery.event == "sub_issues":
            return await self.on_sub_issue(delivery, event)
        if delivery.event in INSTALLATION_EVENTS:
            # No issue here: label sync for the repositories the App was given.
            return await on_installation(self.github, self.configs, delivery.event, event)
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

    async def _turn(
        self,
        delivery: Delivery,
        event: Event,
        hint: Hint,
        *,
        check_declarer: bool = False,
        config: RepoConfig | None = None,
    ) -> Turn:
        """Read what a decision needs: the repo's labels, the issue now, and our record.

        `check_declarer`: an issue event that may declare an incident asks whether its
        sender may (only when the issue is unrecorded and carries the incident label).
        """
        assert event.repository is not None and event.installation is not None
        issue_ref = event.incident_issue()
        assert issue_ref is not None
        repo = event.repository.full_name
        client = self.github.installation(event.installation.id)
        if config is None:
            config = (await self.configs.get(client, repo)).config
        scheme = config.scheme
        data, read_at = await client.read_issue(repo, issue_ref.number)
        incident = await self.store.load(event.repository.id, issue_ref.number)
        if incident is None and check_declarer and labelled(data, scheme.incident):
            permitted = await self.may_declare(client, repo, event, data)
            hint = replace(hint, declarer_permitted=permitted)
        if incident is None and hint.declarer_permitted:
            # A report's form answers stay answers: no severity label for an outsider.
            data = await apply_form_answers(client, repo, data, scheme)
        issue = issue_from_api(repo, event.repository.id, data)
        updated_at = _github_time(data.get("updated_at"))
        return Turn(
            client,
            event.installation.id,
            config,
            hint,
            issue,
            incident,
            read=(updated_at, read_at),
        )

    async def _carry_out(
        self,
        turn: Turn,
        decision: Decision,
        delivery: Delivery,
        *,
        comments: list[dict[str, Any]] | None = None,
    ) -> str:
        """Apply a decision's plan, then save the record (and any incident it opened)."""
        applied = await apply_plan(
            turn.client,
            turn.issue.repo,
            turn.issue.number,
            decision.plan,
            retrying=delivery.attempts > 1,
            comments=comments,
        )
        after = decision.incident
        if after is not None and applied.opened:
            after = replace(
                after,
                timeline=tuple(replace(e, detail=applied.fill(e.detail)) for e in after.timeline),
            )
        for effect in decision.plan:
            if isinstance(effect, OpenIssue) and effect.record is not None:
                created = applied.opened[effect.key]
                new = replace(effect.record, number=int(created["number"]))
                await self.record(turn.client, None, new, installation_id=turn.installation_id)
        await self.record(turn.client, turn.incident, after, installation_id=turn.installation_id)
        return " ".join(applied.log) if applied.log else "in step"

    async def on_issue_event(self, delivery: Delivery, event: Event) -> str:
        if event.issue is None or event.repository is None or event.installation is None:
            return "ignored: incomplete payload"
        if event.issue.pull_request is not None:
            return "ignored: pull request"
        # Our own changes come back as webhooks; they were decided already. No loops.
        if await self.is_own(event):
            return "echo"
        hint = hint_for("issues", event, delivery.delivery_id, delivery.received_at)
        key = event.issue_key() or ""
        if event.action in SIDEBAR_ACTIONS and await self.reads.covered(
            key, event.issue.updated_at
        ):
            # The other half of a sidebar change already read and acted on: no call needed.
            return "covered by an earlier read"
        client = self.github.installation(event.installation.id)
        config = (await self.configs.get(client, event.repository.full_name)).config
        if not await self._may_be_incident(event, config.scheme):
            return "not an incident"
        turn = await self._turn(delivery, event, hint, check_declarer=True, config=config)
        decision = reconcile_issue(turn.hint, turn.issue, turn.incident, turn.config)
        if decision.incident is None and not decision.plan:
            return "not an incident"
        outcome = await self._carry_out(turn, decision, delivery)
        await self.reads.remember(key, *turn.read)
        return outcome if decision.incident is not None else f"reported: {outcome}"

    async def may_declare(
        self, client: Client, repo: str, event: Event, data: dict[str, Any]
    ) -> bool:
        """Whether this event's sender may declare the incident its issue is labelled as.

        Another App (our own echoes never get here) labels only with the write access an
        admin granted it. A human labelling someone else's issue has triage: GitHub lets no
        one else label. The opener of an issue (a form applies its labels for anyone, and
        GitHub sends their `labeled` events from the opener) is asked of GitHub, cached.
        """
        sender = event.sender
        if sender is None:
            return False
        if sender.type == "Bot":
            return True
        author = str((data.get("user") or {}).get("login") or "")
        if event.action == "labeled" and sender.login.casefold() != author.casefold():
            return True
        return await self.permissions.may_triage(client, repo, sender.login)

    async def _may_be_incident(self, event: Event, scheme: LabelScheme) -> bool:
        """False for an issue we never recorded whose payload lacks the incident label.

        Saves a read of every ordinary issue's events: if `incident` is added later, that
        change arrives as its own delivery, carrying the label.
        """
        assert event.issue and event.repository
        incident_label = scheme.incident.casefold()
        if any(label.name.casefold() == incident_label for label in event.issue.labels):
            return True
        return await self.store.load(event.repository.id, event.issue.number) is not None

    async def on_sub_issue(self, delivery: Delivery, event: Event) -> str:
        """A sub-issue linked to an incident by hand is stabilization work while pending."""
        if event.action != "sub_issue_added":
            return f"ignored: {event.action}"
        if event.sub_issue is None or event.parent_issue is None:
            return "ignored: incomplete payload"
        if event.repository is None or event.installation is None:
            return "ignored: incomplete payload"
        if await self.is_own(event):
            return "echo"
        hint = hint_for("sub_issues", event, delivery.delivery_id, delivery.received_at)
        turn = await self._turn(delivery, event, hint)
        if turn.incident is None:
            return "not an incident"
        child = issue_from_api(turn.issue.repo, turn.issue.repo_id, event.sub_issue.model_dump())
        decision = link_stabilization_issue(hint, turn.incident, child, turn.config)
        return await self._carry_out(turn, decision, delivery)

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
        self._note_commands(delivery, commands)
        if not commands:
            return "no commands"
        hint = hint_for("issue_comment", event, delivery.delivery_id, delivery.received_at)
        repo = event.repository.full_name
        client = self.github.installation(event.installation.id)
        known = await self.store.load(event.repository.id, event.issue.number)
        is_incident = known is not None and known.managed
        run = commands[:MAX_COMMANDS]
        needs_triage = not is_incident or any(REGISTRY[c.name].who != "anyone" for c in run)
        permitted = needs_triage and await self.permissions.may_triage(client, repo, author.login)
        if not permitted and not is_incident:
            # Nothing to read or answer: a stranger's commands cost one cached permission call.
            return "ignored: commands below triage on an issue that is not an incident"
        turn = await self._turn(delivery, event, hint)
        comments = None
        if any(c.name == "help" for c in run):
            comments = await _comments_since(turn.client, repo, event.issue.number, hint.at)
        ctx = CommandContext(
            hint,
            turn.issue,
            turn.incident,
            turn.config,
            event.comment.id,
            permitted,
            help_given_at=help_given_at(comments or []),
        )
        decision = run_commands(commands, ctx)
        if comments is None and any(isinstance(e, PostComment) for e in decision.plan):
            comments = await _comments_since(turn.client, repo, event.issue.number, hint.at)
        outcome = await self._carry_out(turn, decision, delivery, comments=comments)
        return f"commands {','.join(c.name for c in run)}: {outcome}"

    def _note_commands(self, delivery: Delivery, commands: list[Command]) -> None:
        """Keep a delivery's parsed command names for the metrics, which never parse again."""
        if not commands:
            return
        while len(self._commands_seen) >= 1024:  # a bound, should an outcome never come
            del self._commands_seen[next(iter(self._commands_seen))]
        self._commands_seen[delivery.seq] = tuple(c.name for c in commands)

    def commands_seen(self, delivery: Delivery) -> tuple[str, ...]:
        """The registered commands this delivery's comment held (once; for the metrics)."""
        return self._commands_seen.pop(delivery.seq, ())


async def _comments_since(
    client: Client, repo: str, number: int, at: datetime
) -> list[dict[str, Any]]:
    """The issue's comments from HELP_EVERY before a comment written at `at`: enough to see a
    recent `/help` answer, and any reply to that comment (which can only be newer)."""
    since = (at - HELP_EVERY).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return await client.paginate(f"/repos/{repo}/issues/{number}/comments", since=since)


@dataclass(frozen=True)
class Turn:
    """Everything one delivery's decision is made from."""

    client: Client
    installation_id: int
    config: RepoConfig
    hint: Hint
    issue: Issue
    incident: Incident | None
    read: tuple[datetime | None, datetime | None] = (None, None)  # issue updated_at, read at


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


def labelled(data: dict[str, Any], name: str) -> bool:
    """Whether an issue as read from the API carries the label `name`."""
    return any(
        str(label["name"]).casefold() == name.casefold() for label in data.get("labels") or []
    )


def hint_for(event_name: str, event: Event, delivery_id: str, received_at: datetime) -> Hint:
    """What a delivery says happened, for the core (also used by `incident-flow replay`)."""
    actor = event.sender.login if event.sender else "unknown"
    if event_name == "issue_comment" and event.comment is not None and event.comment.user:
        actor = event.comment.user.login
    at = event_time(event, received_at)
    if event_name == "sub_issues" and event.parent_issue is not None:
        at = event.parent_issue.updated_at or received_at
    return Hint(
        event=event_name,
        action=event.action or "",
        actor=actor,
        at=at,
        delivery_id=delivery_id,
        label=event.label.name if event.label else None,
    )


def event_time(event: Event, fallback: datetime) -> datetime:
    """GitHub's time of the event: the comment's creation, else the issue's last update."""
    if event.comment is not None and event.comment.created_at is not None:
        return event.comment.created_at
    if event.issue is not None and event.issue.updated_at is not None:
        return event.issue.updated_at
    return fallback


def _github_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
