"""`incident-flow replay`: route and decide a saved payload as the service would; show the plan.

Nothing is applied. A dry run makes no GitHub call at all: the issue's labels come from the
payload itself, label names are the defaults, and commenters count as having triage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from app.domain.config import DEFAULT_CONFIG, LoadedConfig, RepoConfig
from app.domain.config_file import parse_config
from app.domain.decision import Plan, decide
from app.domain.facts import Hint, Issue
from app.domain.labels import DEFAULT_LABELS
from app.domain.payloads import Event, Installation, read_event
from app.domain.plan import (
    AddLabels,
    AddSubIssueLabels,
    Assign,
    Effect,
    KeepStatusComment,
    LabelOpenSubIssues,
    OpenIssue,
    PostComment,
    RemoveLabel,
    SetIssueState,
)
from app.domain.records import Incident
from app.github.client import Client
from app.github.label_sync import INSTALLATION_EVENTS, describe, plan_labels
from app.github.permissions import PermissionCache
from app.github.sources import GitHubReads, PayloadReads, Reads
from app.queue.inbox import Delivery
from app.service.intake_routes import ALERT_EVENT
from app.service.routes import Router, Turn
from app.service.services import Services, build_services
from app.settings import Settings
from app.storage.bookkeeping import Bookkeeping


@dataclass
class Replayed:
    """What the core decided for one payload, and what the replay assumed to get there."""

    hint: Hint | None = None
    issue: Issue | None = None
    before: Incident | None = None
    plan: Plan | None = None
    outcome: str = ""
    notes: list[str] = field(default_factory=list)


def shown(text: str, limit: int = 100) -> str:
    """Text from GitHub fit for a terminal: one line, control characters escaped, bounded."""
    text = text[:limit]
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _first_line(body: str) -> str:
    stripped = body.strip()
    return shown(stripped.splitlines()[0]) if stripped else "(empty)"


def describe_effect(effect: Effect) -> str:
    """One short line per effect of a plan, as an operator would say it."""
    match effect:
        case AddLabels(names):
            return "add labels " + ", ".join(shown(n) for n in names)
        case RemoveLabel(name):
            return f"remove label {shown(name)}"
        case PostComment(key=key, body=body):
            return f"comment [{shown(key)}]: {_first_line(body)}"
        case SetIssueState(state, reason):
            return f"set issue {state}" + (f" ({reason})" if reason else "")
        case OpenIssue(title=title, labels=labels, assignees=assignees, sub_issue_of=parent):
            line = f'open issue "{shown(title)}"'
            if labels:
                line += " labelled " + ", ".join(shown(n) for n in labels)
            if assignees:
                line += " for " + ", ".join("@" + shown(a) for a in assignees)
            return line + (f" as a sub-issue of #{parent}" if parent is not None else "")
        case LabelOpenSubIssues(having=having, add=add, remove=remove):
            joined = ", ".join(shown(n) for n in add)
            line = f"add labels {joined} to open sub-issues labelled {shown(having)}"
            return line + _removing(remove)
        case AddSubIssueLabels(number=number, names=labels, remove=remove):
            joined = ", ".join(shown(n) for n in labels)
            return f"add labels {joined} to sub-issue #{number}" + _removing(remove)
        case Assign(add=add, remove=remove, on=on):
            parts = [f"assign {', '.join('@' + shown(a) for a in add)}"] if add else []
            parts += [f"unassign {', '.join('@' + shown(a) for a in remove)}"] if remove else []
            where = " on the issue opened above" if on is not None else ""
            return ("; ".join(parts) or "assignees unchanged") + where
        case KeepStatusComment(on=on):
            return "keep the status comment" + (" of the issue opened above" if on else "")
    return type(effect).__name__


def _removing(names: tuple[str, ...]) -> str:
    return f" (removing {', '.join(shown(n) for n in names)})" if names else ""


def _status(incident: Incident | None) -> str:
    if incident is None:
        return "none"
    severity = f"severity {int(incident.severity)}" if incident.severity else "no severity"
    managed = "" if incident.managed else ", withdrawn"
    return f"{incident.status.display}, {severity}{managed}, lead {incident.lead or '—'}"


def render(result: Replayed) -> str:
    lines: list[str] = []
    if result.hint is not None:
        hint = result.hint
        label = f' "{shown(hint.label)}"' if hint.label else ""
        lines.append(f"event:   {hint.event} {hint.action}{label} by {hint.actor} at {hint.at}")
    if result.issue is not None:
        issue = result.issue
        lines.append(
            f'issue:   {issue.repo}#{issue.number} "{shown(issue.title)}" [{issue.state}] '
            f"labels: {', '.join(shown(n) for n in issue.labels) or '(none)'}"
        )
    lines.append(f"record:  {_status(result.before)}")
    plan = result.plan
    if plan is None or plan.outcome:
        lines.append(f"outcome: {result.outcome}")
    else:
        lines.append(f"plan:    {len(plan.effects)} effects" + (":" if plan.effects else ""))
        lines += [f"  - {describe_effect(effect)}" for effect in plan.effects]
        lines.append(f"after:   {_status(plan.record)}")
        start = len(result.before.timeline) if result.before is not None else 0
        added = plan.record.timeline[start:] if plan.record is not None else ()
        lines += [
            f"  + {e.at:%Y-%m-%d %H:%M:%S} {shown(e.actor)} {e.kind}: {shown(e.detail, 200)}"
            for e in added
        ]
        if result.outcome:
            lines.append(f"outcome: {result.outcome}")
    lines += [f"note:    {note}" for note in result.notes]
    return "\n".join(lines)


async def replay(
    settings: Settings,
    path: Path,
    event_name: str,
    *,
    dry_run: bool,
    transport: httpx.AsyncBaseTransport | None = None,
    config_file: Path | None = None,
    delivery_id: str = "replay",
) -> Replayed:
    """Route and decide a saved payload as the service would (routes.py), applying nothing.

    A dry run reads only the payload and our database. `config_file` stands in for the
    repository's `.github/incidents.yml`.
    """
    text = path.read_text()
    event = read_event(text)
    result = Replayed()
    config = None
    if config_file is not None:
        config, errors = parse_config(config_file.read_text(), str(config_file))
        if errors:
            raise ValueError("\n".join(str(error) for error in errors))
    services = await build_services(settings, github_transport=transport, start_worker=False)
    try:
        if not dry_run and (services.github is None or services.responder is None):
            raise RuntimeError("APP_ID and PRIVATE_KEY are needed (or use --dry-run)")
        if event_name in INSTALLATION_EVENTS:
            await _replay_installation(services, event, event_name, dry_run, result)
            return result
        about_issue = event_name not in ("push", ALERT_EVENT)  # an alert names its repo only
        if about_issue and (event.incident_issue() is None or event.repository is None):
            result.outcome = "ignored: the payload names no issue and repository"
            return result
        if event.installation is None and not dry_run:
            raise RuntimeError("the payload has no installation id to read the issue with")
        reads: Reads
        if dry_run:
            reads = PayloadReads(event, config or DEFAULT_CONFIG)
            names = f"label names from {config_file}" if config_file else "default label names"
            result.notes.append(f"dry run: no GitHub call; labels from the payload, {names}")
            if event_name == "issue_comment":
                result.notes.append("dry run: the commenter is taken to have triage permission")
        else:
            assert services.github is not None and services.responder is not None
            configs = services.responder.configs if config is None else Fixed(config)
            reads = GitHubReads(services.github, configs, PermissionCache())
        router = Router(reads, services.store, Bookkeeping(services.engine))
        if event.installation is None:  # a dry run of a payload without one: any id will do
            event = event.model_copy(update={"installation": Installation(id=0)})
        delivery = Delivery(
            seq=0,
            delivery_id=delivery_id,  # what keys the plan's comments, as in the service
            event=event_name,
            action=event.action,
            installation_id=event.installation.id if event.installation else None,
            issue_key=event.issue_key(),
            payload=text,
            received_at=datetime.now(UTC),
            attempts=1,
        )
        if event.sender is not None and event.sender.is_bot:
            result.notes.append("the sender is a bot: the service ignores its own echoes")
        routed = await router.route(delivery, event)
        if not isinstance(routed, Turn):
            result.outcome = routed
            return result
        result.hint = routed.event.hint
        result.issue = routed.snapshot.issue
        result.before = routed.snapshot.incident
        result.plan = decide(routed.event, routed.snapshot)
        result.outcome = result.plan.outcome or ("reported" if result.plan.reported else "")
        return result
    finally:
        await services.close()


class Fixed:
    """A config source that always answers with one config (`replay --config FILE`)."""

    def __init__(self, config: RepoConfig) -> None:
        self.loaded = LoadedConfig(config, found=True)

    async def get(self, client: Client, repo: str) -> LoadedConfig:
        return self.loaded

    def invalidate(self, repo: str) -> None:
        return None


async def _replay_installation(
    services: Services, event: Event, event_name: str, dry_run: bool, result: Replayed
) -> None:
    repos = (event.repositories_added if event_name == "installation_repositories" else None) or (
        event.repositories or []
    )
    if dry_run:
        names = ", ".join(spec.name for spec in DEFAULT_LABELS.specs())
        for repository in repos:
            result.notes.append(f"label sync in {repository.full_name}: ensure {names}")
        result.outcome = f"label sync in {len(repos)} repositories (dry run: existing unknown)"
        return
    assert event.installation is not None
    assert services.github is not None and services.responder is not None
    client = services.github.installation(event.installation.id)
    for repository in repos:
        loaded = await services.responder.configs.get(client, repository.full_name)
        scheme = loaded.config.scheme
        existing = await client.paginate(f"/repos/{repository.full_name}/labels")
        changes = plan_labels(existing, scheme.specs())
        for change in changes:
            result.notes.append(f"{repository.full_name}: would have {describe(change)}")
        if not changes:
            result.notes.append(f"{repository.full_name}: labels in step")
    result.outcome = f"label sync in {len(repos)} repositories"
