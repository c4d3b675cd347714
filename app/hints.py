"""What a delivery says happened, read from its payload: the hint, the issue, the people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.facts import Hint, Issue
from app.payloads import Event, User


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
