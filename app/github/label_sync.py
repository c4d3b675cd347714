"""Label sync: create the labels a repository's scheme needs and fix ours; never delete."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.domain.labels import LabelScheme, LabelSpec
from app.domain.payloads import Event
from app.github.client import Client, GitHubApp, GitHubRefused
from app.github.config_source import ConfigSource

log = logging.getLogger(__name__)

INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})
# The actions that give the App new repositories; the others (deleted, removed, ...) need none.
SYNC_ACTIONS = frozenset({"created", "added", "new_permissions_accepted", "unsuspend"})


@dataclass(frozen=True)
class CreateLabel:
    spec: LabelSpec


@dataclass(frozen=True)
class UpdateLabel:
    """Fix colour and description of an existing label; its name (and case) stay as they are."""

    name: str
    spec: LabelSpec


LabelChange = CreateLabel | UpdateLabel


def plan_labels(existing: list[dict[str, Any]], specs: list[LabelSpec]) -> list[LabelChange]:
    """What to change so that every label of the scheme exists with our colour and text.

    Labels not in the scheme are never touched, so a user's own labels stay as they are.
    """
    by_name = {str(label["name"]).casefold(): label for label in existing}
    changes: list[LabelChange] = []
    for spec in specs:
        label = by_name.get(spec.name.casefold())
        if label is None:
            changes.append(CreateLabel(spec))
            continue
        colour = str(label.get("color") or "").lower()
        if colour != spec.color.lower() or (label.get("description") or "") != spec.description:
            changes.append(UpdateLabel(str(label["name"]), spec))
    return changes


def describe(change: LabelChange) -> str:
    if isinstance(change, CreateLabel):
        return f"created {change.spec.name} (#{change.spec.color})"
    return f"updated {change.name} (#{change.spec.color}, {change.spec.description!r})"


async def sync_labels(client: Client, repo: str, scheme: LabelScheme) -> list[str]:
    """Bring a repository's labels in line with the scheme; returns what was changed."""
    done: list[str] = []
    for change in plan_labels(await client.paginate(f"/repos/{repo}/labels"), scheme.specs()):
        fields = {"color": change.spec.color, "description": change.spec.description}
        if isinstance(change, CreateLabel):
            try:
                await client.request(
                    "POST", f"/repos/{repo}/labels", json={"name": change.spec.name, **fields}
                )
            except GitHubRefused as exc:
                # Someone created it since we listed: fix it instead.
                if exc.status != 422:
                    raise
                change = UpdateLabel(change.spec.name, change.spec)
        if isinstance(change, UpdateLabel):
            await client.request(
                "PATCH", f"/repos/{repo}/labels/{quote(change.name, safe='')}", json=fields
            )
        done.append(describe(change))
    return done


async def on_installation(
    github: GitHubApp,
    configs: ConfigSource,
    event_name: str,
    event: Event,
) -> str:
    """Sync labels in the repositories an installation event gives the App."""
    if event.action not in SYNC_ACTIONS or event.installation is None:
        return f"ignored: {event_name} {event.action}"
    repos = event.repositories_added if event_name == "installation_repositories" else None
    repos = repos if repos is not None else (event.repositories or [])
    client = github.installation(event.installation.id)
    changed = 0
    for repository in repos:
        scheme = (await configs.get(client, repository.full_name)).config.scheme
        changes = await sync_labels(client, repository.full_name, scheme)
        changed += len(changes)
        log.info(
            "labels synced",
            extra={"repo": repository.full_name, "changes": changes},
        )
    return f"labels synced in {len(repos)} repositories ({changed} changes)"
