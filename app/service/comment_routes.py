"""Reads for comments: a new comment's commands, and our status comment edited or deleted."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from app.domain.command_flow import MAX_COMMANDS, help_given_at
from app.domain.commands import REGISTRY, parse_commands
from app.domain.config import LoadedConfig
from app.domain.followup import History
from app.domain.gates import wanted_for_commands
from app.domain.occurrence import Kind, Occurrence, Snapshot
from app.domain.payloads import Event
from app.github.sources import hint_for, is_person, issue_from_api
from app.queue.inbox import Delivery
from app.service import intake_routes
from app.service.follow_through import sub_issues
from app.service.oncall_routes import plain_comment
from app.service.turns import Routed, Turn

if TYPE_CHECKING:
    from app.service.routes import Router


async def on_comment(router: Router, delivery: Delivery, event: Event) -> Routed:
    """Run the commands of a new comment; other bots' comments run nothing."""
    if event.issue is None or event.comment is None:
        return "ignored: incomplete payload"
    if event.repository is None or event.installation is None:
        return "ignored: incomplete payload"
    if event.issue.pull_request is not None:
        return "ignored: pull request"
    author = event.comment.user or event.sender
    if not is_person(author):
        return "ignored: bot comment"
    assert author is not None
    installation = event.installation.id
    repo, repo_id = event.repository.full_name, event.repository.id
    hint = hint_for("issue_comment", event, delivery.delivery_id, delivery.received_at)
    commands = [c for c in parse_commands(event.comment.body) if c.name in REGISTRY]
    router.seen(delivery, commands)
    payload_issue = issue_from_api(repo, repo_id, event.issue.model_dump())
    # A person's comment may be an update (reminders count from it) or the lead's word.
    note = Occurrence(Kind.COMMENT, hint, human_comment_at=event.comment.created_at)
    bare = Snapshot(payload_issue, None, LoadedConfig())
    if not commands:
        return await plain_comment(router, installation, note, payload_issue)
    known = await router.store.load(repo_id, event.issue.number)
    is_incident = known is not None and known.managed
    run = commands[:MAX_COMMANDS]
    needs_triage = not is_incident or any(REGISTRY[c.name].who != "anyone" for c in run)
    permitted = needs_triage and await router.reads.may_triage(installation, repo, author.login)
    if not permitted and not is_incident:
        # Nothing to read or answer: a stranger's commands cost one cached permission call.
        outcome = "ignored: commands below triage on an issue that is not an incident"
        return Turn(installation, note, bare, outcome=outcome)
    loaded = await router.reads.config(installation, repo)
    data, _ = await router.reads.issue(installation, repo, event.issue.number)
    issue = issue_from_api(repo, repo_id, data)
    comments = None
    if any(c.name == "help" for c in run):
        comments = await router.reads.comments_since(installation, repo, issue.number, hint.at)
    handover = any(c.name == "lead" for c in run)  # `/lead decline` asks the next one
    history = await router.history(repo_id, issue.number, known, handover=handover)
    snapshot = await router.snapshot(
        installation,
        issue,
        known,
        loaded,
        history,
        gated=permitted and wanted_for_commands(known, [c.name for c in run]),
        permitted=permitted,
        help_given_at=help_given_at(comments or []),
        # The incidents `/recurrence-of` names, read for triage and above only.
        related=await intake_routes.read_related(
            router, installation, repo, repo_id, run if permitted else []
        ),
    )
    occurrence = replace(note, commands=tuple(commands), comment_id=event.comment.id)
    prefix = f"commands {','.join(c.name for c in run)}: "
    listed = tuple(comments) if comments is not None else None
    return Turn(installation, occurrence, snapshot, prefix=prefix, comments=listed)


async def on_comment_changed(router: Router, delivery: Delivery, event: Event) -> Routed:
    """Our status comment edited or deleted by hand: rebuild it from the record."""
    ignored = f"ignored: comment {event.action}"
    if event.issue is None or event.comment is None or event.issue.pull_request:
        return ignored
    if event.repository is None or event.installation is None or await router.is_own(event):
        return ignored
    installation = event.installation.id
    repo, repo_id = event.repository.full_name, event.repository.id
    number = event.issue.number
    extras = await router.books.extras(repo_id, number)
    incident = await router.store.load(repo_id, number)
    if extras.status_comment_id != event.comment.id or incident is None:
        return ignored
    loaded = await router.reads.config(installation, repo)
    hint = hint_for("issue_comment", event, delivery.delivery_id, delivery.received_at)
    issue = issue_from_api(repo, repo_id, event.issue.model_dump())
    history = History(extras, bot=await router.reads.bot())
    outcome = f"status comment {event.action} by hand: rebuilt"
    occurrence = Occurrence(Kind.STATUS_EDITED, hint)
    listed = await sub_issues(router.reads, installation, repo, repo_id, incident)
    snapshot = Snapshot(issue, incident, loaded, history, sub_issues=listed)
    return Turn(installation, occurrence, snapshot, outcome=outcome)
