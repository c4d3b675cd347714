"""The reads of the gates and of stabilization work: an incident's sub-issues (one call) and a
sub-issue's parent. What they mean is decided in app/domain/gates.py and app/domain/work.py."""

from __future__ import annotations

from datetime import datetime

from app.domain.config import LoadedConfig
from app.domain.facts import Issue
from app.domain.followup import History
from app.domain.gates import Gates, read_gates
from app.domain.labels import LabelScheme
from app.domain.occurrence import Snapshot
from app.domain.payloads import Event
from app.github.client import GitHubRefused
from app.github.sources import Reads, github_time, issue_from_api, parent_number
from app.storage.store import IncidentStore

Read = tuple[datetime | None, datetime | None]  # the issue's updated_at, and when it was read


async def gates_of(
    reads: Reads,
    installation: int,
    incident: Issue,
    scheme: LabelScheme,
    history: History,
    listed: tuple[Issue, ...] | None = None,
) -> Gates:
    """The incident's open stabilization sub-issues and whether its retrospective is open:
    one list of sub-issues (none when `listed` already), plus a read of the retrospective
    only if it was unlinked by hand."""
    repo, repo_id, retro = incident.repo, incident.repo_id, history.extras.retro_number
    children = (
        list(listed)
        if listed is not None
        else [
            issue_from_api(repo, repo_id, data)
            for data in await reads.sub_issues(installation, repo, incident.number)
        ]
    )
    if retro is not None and all(child.number != retro for child in children):
        try:
            data, _ = await reads.issue(installation, repo, retro)
        except GitHubRefused as exc:
            if exc.status not in (404, 410):
                raise
            # Deleted or transferred: no retrospective is left to wait for.
        else:
            children.append(issue_from_api(repo, repo_id, data))
    return read_gates(children, scheme, retro)


async def work_snapshot(
    reads: Reads, store: IncidentStore, installation: int, event: Event, loaded: LoadedConfig
) -> tuple[Snapshot, Read] | str:
    """A label changed that may concern stabilization work on an issue that is no incident:
    read the issue (its parent comes with it), then the parent's record from the database.
    Returns the snapshot of Kind.WORK and the read's times, or why there is nothing to do."""
    assert event.issue is not None and event.repository is not None
    repo, repo_id = event.repository.full_name, event.repository.id
    data, read_at = await reads.issue(installation, repo, event.issue.number)
    parent = parent_number(data, repo)
    incident = await store.load(repo_id, parent) if parent is not None else None
    if incident is None or not incident.managed:
        return "not an incident's sub-issue"
    child = issue_from_api(repo, repo_id, data)
    return Snapshot(child, incident, loaded), (github_time(data.get("updated_at")), read_at)
