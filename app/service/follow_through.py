"""The reads follow-ups and security reports add to a snapshot, and a follow-up's own route."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.domain.config import RepoConfig
from app.domain.facts import Issue
from app.domain.followup import History
from app.domain.followups import needs_sub_issues
from app.domain.labels import LabelScheme
from app.domain.occurrence import Kind, Occurrence, Snapshot
from app.domain.payloads import FOLLOW_UP_MARKER, Event
from app.domain.records import Incident
from app.domain.security import copy_key, where_to_look
from app.github.sources import Reads, hint_for, issue_from_api
from app.queue.inbox import Delivery

if TYPE_CHECKING:
    from app.service.routes import Router

# What changes a follow-up's line in the status comment: its state, or its label.
FOLLOW_UP_ACTIONS = frozenset({"closed", "reopened", "labeled", "unlabeled"})


async def sub_issues(
    reads: Reads,
    installation_id: int,
    repo: str,
    repo_id: int,
    incident: Incident | None,
    *,
    always: bool = False,
) -> tuple[Issue, ...] | None:
    """The incident's sub-issues (one call), read only when the decision may list follow-ups."""
    if incident is None or not (always or needs_sub_issues(incident)):
        return None
    listed = await reads.sub_issues(installation_id, repo, incident.number)
    return tuple(issue_from_api(repo, repo_id, data) for data in listed)


async def private_copy(
    reads: Reads,
    installation_id: int,
    issue: Issue,
    incident: Incident | None,
    config: RepoConfig,
) -> bool | None:
    """Whether a security report's private incident was opened already (one list call),
    asked only of a security report with `security.private_repo` configured."""
    where = where_to_look(issue, incident, config)
    if where is None:
        return None
    return await reads.opened_before(installation_id, where, copy_key(issue))


def may_be_security_report(event: Event, scheme: LabelScheme) -> bool:
    """A report (`incident:reported`) given the security label: read it, to keep it private."""
    issue = event.issue
    names = {label.name.casefold() for label in issue.labels} if issue else set()
    return {scheme.reported.casefold(), scheme.security.casefold()} <= names


def follow_up_parent(event: Event) -> int | None:
    """The incident a follow-up issue belongs to, from the hidden marker in its body."""
    issue = event.issue
    found = FOLLOW_UP_MARKER.search(issue.body or "") if issue is not None else None
    number = int(found.group(1)) if found else None
    return number if issue is not None and number != issue.number else None


async def follow_up_changed(
    router: Router, delivery: Delivery, event: Event, parent: int
) -> tuple[Occurrence, Snapshot] | str:
    """A follow-up closed, reopened or relabelled: its incident's status comment shows it.

    Returns what to decide, or the outcome when there is nothing to decide.
    """
    assert event.repository is not None and event.installation is not None
    repo, repo_id = event.repository.full_name, event.repository.id
    incident = await router.store.load(repo_id, parent)
    if incident is None or not incident.managed:
        return "follow-up of no incident"
    if event.action not in FOLLOW_UP_ACTIONS:
        return f"follow-up {event.action}: no change"
    installation = event.installation.id
    loaded = await router.reads.config(installation, repo)
    hint = hint_for("issues", event, delivery.delivery_id, delivery.received_at)
    issue = Issue(repo, repo_id, incident.number, 0, incident.title, "open", ())
    listed = await sub_issues(router.reads, installation, repo, repo_id, incident, always=True)
    history = History(await router.books.extras(repo_id, parent), bot=await router.reads.bot())
    snapshot = Snapshot(issue, incident, loaded, history, sub_issues=listed)
    return Occurrence(Kind.FOLLOW_UP_CHANGED, hint), snapshot
