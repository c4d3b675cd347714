"""`incident-flow replay`: run a saved payload through the decision core and show the plan.

Nothing is applied. A dry run makes no GitHub call at all: the issue's labels come from the
payload itself, label names are the defaults, and commenters count as having triage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from app.command_flow import run_commands
from app.commands import REGISTRY, CommandContext, parse_commands
from app.config import DEFAULT_CONFIG, RepoConfig, parse_config
from app.decide import Decision, Hint, Issue, link_stabilization_issue, reconcile_issue
from app.label_sync import INSTALLATION_EVENTS, describe, plan_labels
from app.labels import DEFAULT_LABELS
from app.payloads import Event
from app.plan import (
    AddLabels,
    AddSubIssueLabels,
    Assign,
    Effect,
    LabelOpenSubIssues,
    OpenIssue,
    PostComment,
    RemoveLabel,
    SetIssueState,
)
from app.records import Incident
from app.responder import hint_for, issue_from_api, labelled
from app.services import build_services
from app.settings import Settings


@dataclass
class Replayed:
    """What the core decided for one payload, and what the replay assumed to get there."""

    hint: Hint | None = None
    issue: Issue | None = None
    before: Incident | None = None
    decision: Decision | None = None
    outcome: str = ""
    notes: list[str] = field(default_factory=list)


def decide(
    event_name: str,
    event: Event,
    hint: Hint,
    issue: Issue,
    incident: Incident | None,
    config: RepoConfig,
    *,
    permitted: bool,
) -> tuple[Decision | None, str]:
    """The core's answer to one delivery, as the responder would ask it (pure)."""
    if event_name == "issues":
        if event.issue is not None and event.issue.pull_request is not None:
            return None, "ignored: pull request"
        decision = reconcile_issue(hint, issue, incident, config)
        if decision.incident is None:
            return decision, "reported" if decision.plan else "not an incident"
        return decision, ""
    if event_name == "issue_comment":
        if event.action != "created" or event.comment is None:
            return None, f"ignored: comment {event.action}"
        commands = [c for c in parse_commands(event.comment.body) if c.name in REGISTRY]
        if not commands:
            return None, "no commands"
        ctx = CommandContext(hint, issue, incident, config, event.comment.id, permitted)
        return run_commands(commands, ctx), ""
    if event_name == "sub_issues":
        if event.action != "sub_issue_added" or event.sub_issue is None:
            return None, f"ignored: {event.action}"
        if incident is None:
            return None, "not an incident"
        child = issue_from_api(issue.repo, issue.repo_id, event.sub_issue.model_dump())
        return link_stabilization_issue(hint, incident, child, config), ""
    return None, f"ignored: {event_name} deliveries are not decided by the core"


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
        case LabelOpenSubIssues(having=having, add=add):
            joined = ", ".join(shown(n) for n in add)
            return f"add labels {joined} to open sub-issues labelled {shown(having)}"
        case AddSubIssueLabels(number=number, names=labels):
            return f"add labels {', '.join(shown(n) for n in labels)} to sub-issue #{number}"
        case Assign(add=add, remove=remove):
            parts = [f"assign {', '.join('@' + shown(a) for a in add)}"] if add else []
            parts += [f"unassign {', '.join('@' + shown(a) for a in remove)}"] if remove else []
            return "; ".join(parts) or "assignees unchanged"
    return type(effect).__name__


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
    decision = result.decision
    if decision is None:
        lines.append(f"outcome: {result.outcome}")
    else:
        lines.append(f"plan:    {len(decision.plan)} effects" + (":" if decision.plan else ""))
        lines += [f"  - {describe_effect(effect)}" for effect in decision.plan]
        lines.append(f"after:   {_status(decision.incident)}")
        start = len(result.before.timeline) if result.before is not None else 0
        added = decision.incident.timeline[start:] if decision.incident is not None else ()
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
) -> Replayed:
    """Read what the decision needs (only the payload and our database on a dry run).

    `config_file` stands in for the repository's `.github/incidents.yml`.
    """
    payload: dict[str, Any] = json.loads(path.read_text())
    event = Event.model_validate(payload)
    result = Replayed()
    config = DEFAULT_CONFIG
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
        issue_ref = event.incident_issue()
        if issue_ref is None or event.repository is None:
            result.outcome = "ignored: the payload names no issue and repository"
            return result
        repo, repo_id = event.repository.full_name, event.repository.id
        result.hint = hint_for(event_name, event, "replay", datetime.now(UTC))
        result.before = await services.store.load(repo_id, issue_ref.number)
        permitted = True
        if dry_run:
            data = issue_ref.model_dump()
            names = f"label names from {config_file}" if config_file else "default label names"
            result.notes.append(f"dry run: no GitHub call; labels from the payload, {names}")
            if event_name == "issue_comment":
                result.notes.append("dry run: the commenter is taken to have triage permission")
        else:
            assert services.github is not None and services.responder is not None
            if event.installation is None:
                raise RuntimeError("the payload has no installation id to read the issue with")
            client = services.github.installation(event.installation.id)
            if config_file is None:
                config = (await services.responder.configs.get(client, repo)).config
            data = await client.get_issue(repo, issue_ref.number)
            if event_name == "issue_comment" and result.hint is not None:
                permitted = await services.responder.permissions.may_triage(
                    client, repo, result.hint.actor
                )
            if (
                event_name == "issues"
                and result.before is None
                and result.hint is not None
                and labelled(data, config.scheme.incident)
            ):
                # As the responder asks: may this sender declare, or is the issue a report?
                may = await services.responder.may_declare(client, repo, event, data)
                result.hint = replace(result.hint, declarer_permitted=may)
        if event.sender is not None and event.sender.type == "Bot":
            result.notes.append("the sender is a bot: the service ignores its own echoes")
        result.issue = issue_from_api(repo, repo_id, data)
        result.decision, result.outcome = decide(
            event_name,
            event,
            result.hint,
            result.issue,
            result.before,
            config,
            permitted=permitted,
        )
        return result
    finally:
        await services.close()


async def _replay_installation(
    services: Any, event: Event, event_name: str, dry_run: bool, result: Replayed
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
