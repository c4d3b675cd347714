"""What the routes read from GitHub: the live App, or a saved payload (replay --dry-run)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from app.command_flow import HELP_EVERY
from app.config import DEFAULT_CONFIG, LoadedConfig, RepoConfig
from app.config_source import ConfigSource
from app.github import Client, GitHubApp
from app.payloads import Event
from app.permissions import PermissionCache


class Reads(Protocol):
    async def config(self, installation_id: int, repo: str) -> LoadedConfig: ...
    async def issue(
        self, installation_id: int, repo: str, number: int
    ) -> tuple[dict[str, Any], datetime | None]: ...
    async def may_triage(self, installation_id: int, repo: str, login: str) -> bool: ...
    async def may_declare(
        self, installation_id: int, repo: str, event: Event, data: dict[str, Any]
    ) -> bool: ...
    async def comments_since(
        self, installation_id: int, repo: str, number: int, at: datetime
    ) -> list[dict[str, Any]]: ...
    async def bot(self) -> str: ...
    def config_changed(self, repo: str) -> None: ...


class GitHubReads:
    """The service's reads: GitHub through the App, the config cache, cached permissions."""

    def __init__(
        self, github: GitHubApp, configs: ConfigSource, permissions: PermissionCache
    ) -> None:
        self.github = github
        self.configs = configs
        self.permissions = permissions

    def client(self, installation_id: int) -> Client:
        return self.github.installation(installation_id)

    async def config(self, installation_id: int, repo: str) -> LoadedConfig:
        return await self.configs.get(self.client(installation_id), repo)

    async def issue(
        self, installation_id: int, repo: str, number: int
    ) -> tuple[dict[str, Any], datetime | None]:
        return await self.client(installation_id).read_issue(repo, number)

    async def may_triage(self, installation_id: int, repo: str, login: str) -> bool:
        return await self.permissions.may_triage(self.client(installation_id), repo, login)

    async def may_declare(
        self, installation_id: int, repo: str, event: Event, data: dict[str, Any]
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
        if sender.is_bot:
            return True
        author = str((data.get("user") or {}).get("login") or "")
        if event.action == "labeled" and sender.login.casefold() != author.casefold():
            return True
        return await self.may_triage(installation_id, repo, sender.login)

    async def comments_since(
        self, installation_id: int, repo: str, number: int, at: datetime
    ) -> list[dict[str, Any]]:
        """The issue's comments from a while before a comment written at `at`: enough to see
        a recent `/help` answer, and any reply to that comment (which can only be newer)."""
        since = (at - HELP_EVERY).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        path = f"/repos/{repo}/issues/{number}/comments"
        return await self.client(installation_id).paginate(path, since=since)

    async def bot(self) -> str:
        return await self.github.bot_login()

    def config_changed(self, repo: str) -> None:
        """A push changed the file: look again (with the ETag) at the next use."""
        self.configs.invalidate(repo)


class PayloadReads:
    """A dry run reads nothing from GitHub: the issue is the payload's, commenters have triage."""

    def __init__(self, event: Event, config: RepoConfig = DEFAULT_CONFIG) -> None:
        self.event = event
        self.loaded = LoadedConfig(config, found=config is not DEFAULT_CONFIG)

    async def config(self, installation_id: int, repo: str) -> LoadedConfig:
        return self.loaded

    async def issue(
        self, installation_id: int, repo: str, number: int
    ) -> tuple[dict[str, Any], datetime | None]:
        issue = self.event.incident_issue()
        return (issue.model_dump() if issue is not None else {"number": number, "id": 0}), None

    async def may_triage(self, installation_id: int, repo: str, login: str) -> bool:
        return True

    async def may_declare(
        self, installation_id: int, repo: str, event: Event, data: dict[str, Any]
    ) -> bool:
        return True

    async def comments_since(
        self, installation_id: int, repo: str, number: int, at: datetime
    ) -> list[dict[str, Any]]:
        return []

    async def bot(self) -> str:
        return "incident-flow[bot]"

    def config_changed(self, repo: str) -> None:
        return None
