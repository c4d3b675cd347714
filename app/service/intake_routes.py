"""Routes for incidents found outside their issue: an alert group's notification, and the
earlier incident a `/recurrence-of #N` comment names."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.domain.alert_payloads import group_of, read_alert_payload
from app.domain.alerts import AlertNotice
from app.domain.commands import Command
from app.domain.facts import Hint, Issue, Related
from app.domain.occurrence import Kind, Occurrence, Snapshot
from app.domain.payloads import Event
from app.domain.recurrence_commands import NAME as RECURRENCE_OF
from app.domain.recurrence_commands import recurrence_target
from app.github.client import GitHubRefused
from app.github.sources import issue_from_api
from app.queue.inbox import Delivery
from app.storage.alert_groups import AlertGroups

if TYPE_CHECKING:
    from app.service.routes import Router

# The inbox's event name for an alert notification (app/service/alert_intake.py stores them).
ALERT_EVENT = "alert"
# Incidents one comment's `/recurrence-of` commands may name: each costs two reads.
MOST_RELATED = 3


async def alert_turn(
    router: Router, delivery: Delivery, event: Event
) -> tuple[Occurrence, Snapshot] | str:
    """An alert group's notification: its group, its incident and that issue, if any."""
    if event.repository is None or event.installation is None:
        return "ignored: incomplete payload"
    payload = read_alert_payload(json.dumps(json.loads(delivery.payload)["alert"]))
    installation = event.installation.id
    repo, repo_id = event.repository.full_name, event.repository.id
    name = group_of(payload.groupKey)
    group = await (router.groups or AlertGroups(router.store.engine)).load(repo_id, name)
    incident = await router.store.load(repo_id, group.number) if group is not None else None
    loaded = await router.reads.config(installation, repo)
    issue = Issue(repo, repo_id, 0, 0, "", "open", ())  # none yet: the plan may open it
    if incident is not None:
        data, _ = await router.reads.issue(installation, repo, incident.number)
        issue = issue_from_api(repo, repo_id, data)
    # The alerts' own time decides (the 48-hour rule), as GitHub's time does for issues.
    at = payload.at() or delivery.received_at
    hint = Hint(ALERT_EVENT, payload.status, await router.reads.bot(), at, delivery.delivery_id)
    notice = AlertNotice(payload, name, delivery.delivery_id, delivery.received_at)
    history = await router.history(repo_id, issue.number, incident)
    snapshot = Snapshot(issue, incident, loaded, history, group=group)
    return Occurrence(Kind.ALERT, hint, alert=notice), snapshot


async def read_related(
    router: Router, installation: int, repo: str, repo_id: int, commands: Sequence[Command]
) -> dict[int, Related]:
    """The issues and records of the incidents the comment's `/recurrence-of` names."""
    numbers: list[int] = []
    for command in commands:
        target = recurrence_target(command.args) if command.name == RECURRENCE_OF else None
        if target is not None and target[0] not in numbers:
            numbers.append(target[0])
    related: dict[int, Related] = {}
    for number in numbers[:MOST_RELATED]:
        incident = await router.store.load(repo_id, number)
        if incident is None:
            continue  # not an incident: the command says so, without a read
        try:
            data, _ = await router.reads.issue(installation, repo, number)
        except GitHubRefused as exc:
            if exc.status not in (404, 410):
                raise
            continue  # deleted or transferred since
        issue = issue_from_api(repo, repo_id, data)
        related[number] = Related(issue, incident, await router.books.extras(repo_id, number))
    return related
