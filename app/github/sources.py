"""What a decision is read from: the delivery's payload (its hint and issue), and GitHub
through the live App, or the saved payload alone (replay --dry-run)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from app.domain.command_flow import HELP_EVERY
from app.domain.config import DEFAULT_CONFIG, LoadedConfig, RepoConfig
from app.domain.facts import Hint, Issue
from app.domain.payloads import Event, User
from app.github.client import Client, GitHubApp, GitHubRefused
from app.github.config_source import ConfigSource
from app.github.permissions import PermissionCache


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
    async def sub_issues(
        self, installation_id: int, repo: str, number: int
    ) -> list[dict[str, Any]]: ...
    async def opened_before(self, installation_id: int, repo: str, key: str) -> bool | None: ...
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

    async def sub_issues(
        self, installation_id: int, repo: str, number: int
    ) -> list[dict[str, Any]]:
        """The issue's sub-issues (GitHub allows 100 a parent: one page, one call)."""
        return await self.client(installation_id).list_sub_issues(repo, number)

    async def opened_before(self, installation_id: int, repo: str, key: str) -> bool | None:
        """Whether the app opened the issue with this key in `repo` (another repository of
        the installation); None when the App cannot read that repository."""
        try:
            return await self.client(installation_id).find_issue(repo, key) is not None
        except GitHubRefused as exc:
            if exc.status in (403, 404):
                return None
            raise

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

    async def sub_issues(
        self, installation_id: int, repo: str, number: int
    ) -> list[dict[str, Any]]:
        return []  # a dry run holds nothing back: it cannot see the sub-issues

    async def opened_before(self, installation_id: int, repo: str, key: str) -> bool | None:
        return False

    async def bot(self) -> str:
        return "incident-flow[bot]"

    def config_changed(self, repo: str) -> None:
        return None


def is_person(user: User | None) -> bool:
    """A human account: neither an App's bot user nor a `[bot]` login."""
    return user is not None and not user.is_bot


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
        created_at=github_time(data.get("created_at")),
        body=str(data.get("body") or ""),
    )


def parent_number(data: dict[str, Any], repo: str) -> int | None:
    """The number of the issue's parent in the same repository, from `parent_issue_url`
    (`…/repos/OWNER/REPO/issues/N`) of the issue as read; None without one, or elsewhere."""
    url = data.get("parent_issue_url")
    if not isinstance(url, str):
        return None
    where, _, number = url.rpartition("/issues/")
    if not where.casefold().endswith(f"/repos/{repo}".casefold()):
        return None
    return int(number) if number.isdigit() and len(number) <= 18 else None


def labelled(data: dict[str, Any], name: str) -> bool:
    """Whether an issue as read from the API carries the label `name`."""
    return any(
        str(label["name"]).casefold() == name.casefold() for label in data.get("labels") or []
    )


def hint_for(event_name: str, event: Event, delivery_id: str, received_at: datetime) -> Hint:
    """What a delivery says happened, for the core."""
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


def github_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
