"""Lenient webhook payload models: read only the fields the app uses, ignore the rest."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from app.domain.plan import marker_pattern

# The hidden marker in a retrospective's body (app/domain/retrospectives.py) names its incident.
RETRO_MARKER = marker_pattern(r"retro:(\d{1,9})")
# ... and a follow-up's body its incident (app/domain/followups.py, parent_marker).
FOLLOW_UP_MARKER = marker_pattern(r"follow-up-of:(\d{1,9})")

# Events the worker acts on; anything else is answered and not stored.
HANDLED_EVENTS = frozenset(
    {
        "issues",
        "issue_comment",
        "sub_issues",
        "installation",
        "installation_repositories",
        "push",  # a change to .github/incidents.yml
    }
)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def read_event(payload: str | bytes) -> Event:
    """A stored delivery's event. pydantic's parser refuses JSON that the standard one reads
    (an escaped lone surrogate: a comment cut inside an emoji); that is read by the standard
    parser, each lone surrogate made U+FFFD, which the database and GitHub's API accept."""
    try:
        return Event.model_validate_json(payload)
    except ValidationError as exc:
        if not any(error["type"] == "json_invalid" for error in exc.errors(include_url=False)):
            raise
    text = json.dumps(json.loads(payload), ensure_ascii=False)
    return Event.model_validate_json(_LONE_SURROGATE.sub("\ufffd", text))


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def is_bot(login: str, kind: str | None = None) -> bool:
    """The one bot check: an App's bot user (GitHub's type "Bot") or a `[bot]` login."""
    return kind == "Bot" or login.endswith("[bot]")


class User(Lenient):
    login: str
    id: int | None = None
    type: str = "User"

    @property
    def is_bot(self) -> bool:
        return is_bot(self.login, self.type)


class Label(Lenient):
    name: str


class Repository(Lenient):
    id: int
    full_name: str
    private: bool = False
    default_branch: str | None = None


class Commit(Lenient):
    added: list[str] = []
    modified: list[str] = []
    removed: list[str] = []


class Installation(Lenient):
    id: int


class GitHubApp(Lenient):
    id: int | None = None
    slug: str | None = None


class IssuePayload(Lenient):
    id: int
    number: int
    title: str = ""
    body: str | None = None
    state: str = "open"
    state_reason: str | None = None
    labels: list[Label] = []
    user: User | None = None
    assignees: list[User] = []
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    pull_request: dict[str, Any] | None = None
    performed_via_github_app: GitHubApp | None = None


class CommentPayload(Lenient):
    id: int
    body: str = ""
    user: User | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    performed_via_github_app: GitHubApp | None = None


class Event(Lenient):
    """Any delivery the app handles; each event fills the parts it has."""

    action: str | None = None
    sender: User | None = None
    repository: Repository | None = None
    installation: Installation | None = None
    issue: IssuePayload | None = None
    label: Label | None = None
    comment: CommentPayload | None = None
    sub_issue: IssuePayload | None = None
    parent_issue: IssuePayload | None = None
    parent_issue_repo: Repository | None = None
    repositories: list[Repository] | None = None
    repositories_added: list[Repository] | None = None
    # A push: its branch and the files each commit changed.
    ref: str | None = None
    commits: list[Commit] | None = None
    number: int | None = None  # the incident of an internal follow-up delivery
    at: datetime | None = None  # the time of an internal tick delivery (its scheduler's clock)

    def pushed(self, path: str) -> bool:
        """A push to the default branch that adds, changes or removes the file at `path`."""
        branch = (self.repository.default_branch if self.repository else None) or "main"
        if self.ref != f"refs/heads/{branch}":
            return False
        return any(path in (*c.added, *c.modified, *c.removed) for c in self.commits or [])

    def incident_issue(self) -> IssuePayload | None:
        """The issue whose incident this delivery concerns (a sub-issue's parent)."""
        if self.parent_issue is not None and self.sub_issue is not None:
            return self.parent_issue
        return self.issue

    def issue_key(self) -> str | None:
        """The unit processed one delivery at a time: one issue of one repository."""
        return issue_key(self.repository, self.incident_issue())


def issue_key(
    repository: Repository | None, issue: IssuePayload | IssueReceipt | None
) -> str | None:
    """`Event.issue_key` (and `Receipt.issue_key`): `repo_id#number` of the incident issue."""
    if issue is None or repository is None:
        return None
    # A retrospective's or follow-up's deliveries queue behind its incident's: closing
    # either changes the incident too.
    body = issue.body or ""
    parent = RETRO_MARKER.search(body) or FOLLOW_UP_MARKER.search(body)
    number = int(parent.group(1)) if parent else issue.number
    return f"{repository.id}#{number}"


class IssueReceipt(Lenient):
    """`IssuePayload` as the receiver reads it: what places the delivery and its lane."""

    id: int
    number: int
    body: str | None = None
    labels: list[Label] = []
    pull_request: dict[str, Any] | None = None


class CommentReceipt(Lenient):
    id: int
    body: str = ""


class Receipt(Lenient):
    """`Event` as the receiver reads it (same rules, fewer fields): where a delivery is
    stored and in which lane. Users, times and the rest are read by the worker's `Event`;
    building them for every delivery was a sixth of the receiver's time."""

    action: str | None = None
    repository: Repository | None = None
    installation: Installation | None = None
    issue: IssueReceipt | None = None
    comment: CommentReceipt | None = None
    sub_issue: IssueReceipt | None = None
    parent_issue: IssueReceipt | None = None

    def incident_issue(self) -> IssueReceipt | None:
        """`Event.incident_issue`."""
        if self.parent_issue is not None and self.sub_issue is not None:
            return self.parent_issue
        return self.issue

    def issue_key(self) -> str | None:
        """`Event.issue_key`."""
        return issue_key(self.repository, self.incident_issue())
