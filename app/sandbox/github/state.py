"""The fake GitHub's state: its clock, repositories, payloads and the helpers its routes share."""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request

from app.sandbox.github.model import (
    APP_SLUG,
    BOT_LOGIN,
    STATUS_MARKER,
    Call,
    FakeComment,
    FakeIssue,
    FakeRepo,
    Fault,
    iso,
)


class GitHubState:
    """What the fake holds and how it renders it; the routes and the humans act on it."""

    def __init__(self, *, installation_id: int = 100) -> None:
        self.installation_id = installation_id
        self.repos: dict[str, FakeRepo] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.echoes: list[tuple[str, dict[str, Any]]] = []
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        self.tokens_issued = 0
        # GitHub's real-time clock runs this many seconds ahead of ours (negative: the app's
        # clock is fast). It judges JWTs and installation tokens; `now` is the issues' time.
        self.clock_skew = 0.0
        self.installation_tokens: dict[str, float] = {}  # token -> expiry on GitHub's clock
        self.latency = 0.0  # seconds added to every API call (GitHub answers in ~0.1-0.3 s)
        self._ids = itertools.count(1000)
        # The App's side of GitHub: its webhook delivery log, manifest codes, OAuth users.
        self.hook_deliveries: list[dict[str, Any]] = []
        self.redelivered: list[int] = []
        self.manifests: dict[str, dict[str, Any]] = {}  # code -> the App GitHub created
        self.oauth_codes: dict[str, str] = {}  # code -> login
        self.user_tokens: dict[str, str] = {}  # token -> login

    # ---- clock and set-up -------------------------------------------------------------

    def tick(self, **delta: float) -> datetime:
        self.now += timedelta(**delta) if delta else timedelta(seconds=1)
        return self.now

    def repo(self, full_name: str = "octo/ops", *, private: bool = False) -> FakeRepo:
        if full_name not in self.repos:
            self.repos[full_name] = FakeRepo(next(self._ids), full_name, private)
        return self.repos[full_name]

    def issue(self, full_name: str, number: int) -> FakeIssue:
        return self.repos[full_name].issues[number]

    def add_issue(
        self,
        full_name: str = "octo/ops",
        *,
        title: str = "Search is down",
        labels: list[str] | None = None,
        user: str = "alice",
        body: str = "",
        via_app: bool = False,
    ) -> FakeIssue:
        repo = self.repo(full_name)
        number = len(repo.issues) + 1
        self.tick()
        issue = FakeIssue(
            id=next(self._ids),
            number=number,
            title=title,
            body=body,
            user=user,
            created_at=self.now,
            updated_at=self.now,
            labels=list(labels or []),
            via_app=via_app,
        )
        repo.issues[number] = issue
        for name in issue.labels:
            self._ensure_label(repo, name)
        return issue

    def comments_on(self, full_name: str, number: int) -> list[FakeComment]:
        repo = self.repos[full_name]
        return [c for c in repo.comments.values() if c.issue_number == number]

    def bot_replies(self, full_name: str, number: int) -> list[str]:
        """The app's comments on an issue, except the status comment it edits in place."""
        return [
            c.body
            for c in self.comments_on(full_name, number)
            if c.user == BOT_LOGIN and STATUS_MARKER not in c.body
        ]

    def status_comments(self, full_name: str, number: int) -> list[FakeComment]:
        return [c for c in self.comments_on(full_name, number) if STATUS_MARKER in c.body]

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int = 502,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        after: bool = False,
    ) -> None:
        """The next `times` calls matching method ("*": any) and path get `status`.

        With `after`, the call takes effect first and only its answer is replaced.
        """
        self.faults.append(
            Fault(
                method,
                re.compile(path_regex),
                status,
                headers or {},
                times,
                body or {"message": "injected failure"},
                after,
            )
        )

    def github_time(self) -> float:
        return time.time() + self.clock_skew

    def expire_tokens(self) -> None:
        """Every installation token issued so far runs out now (GitHub answers 401)."""
        for token in self.installation_tokens:
            self.installation_tokens[token] = self.github_time()

    def heal(self) -> None:
        """GitHub is back: drop every injected failure still pending."""
        self.faults.clear()

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.is_write]

    def take_echoes(self) -> list[tuple[str, dict[str, Any]]]:
        echoes, self.echoes = self.echoes, []
        return echoes

    # ---- payloads -------------------------------------------------------------------

    def user_payload(self, login: str) -> dict[str, Any]:
        bot = login.endswith("[bot]")
        return {"login": login, "id": abs(hash(login)) % 10**8, "type": "Bot" if bot else "User"}

    def issue_payload(self, repo: FakeRepo, issue: FakeIssue) -> dict[str, Any]:
        return {
            "id": issue.id,
            "number": issue.number,
            "node_id": f"I_{issue.id}",
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "labels": [self._label_payload(repo, n) for n in issue.labels],
            "user": self.user_payload(issue.user),
            "assignees": [self.user_payload(a) for a in issue.assignees],
            "assignee": self.user_payload(issue.assignees[0]) if issue.assignees else None,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.updated_at) if issue.state == "closed" else None,
            "html_url": f"https://github.com/{repo.full_name}/issues/{issue.number}",
            "performed_via_github_app": {"id": 1, "slug": APP_SLUG} if issue.via_app else None,
            "parent_issue_url": self._parent_url(issue),
        }

    def _parent_url(self, issue: FakeIssue) -> str | None:
        """GitHub's `parent_issue_url` of a sub-issue (its parent may be in another repo)."""
        if issue.parent is None:
            return None
        for repo in self.repos.values():
            for parent in repo.issues.values():
                if parent.id == issue.parent:
                    return f"https://api.github.com/repos/{repo.full_name}/issues/{parent.number}"
        return None

    def comment_payload(self, repo: FakeRepo, comment: FakeComment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "body": comment.body,
            "user": self.user_payload(comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "html_url": f"https://github.com/{repo.full_name}/issues/{comment.issue_number}"
            f"#issuecomment-{comment.id}",
            "performed_via_github_app": {"id": 1, "slug": APP_SLUG} if comment.via_app else None,
        }

    def event_payload(self, repo: FakeRepo, sender: str, **parts: Any) -> dict[str, Any]:
        return {
            "repository": repo.payload,
            "sender": self.user_payload(sender),
            "installation": {"id": self.installation_id},
            **parts,
        }

    def _label_payload(self, repo: FakeRepo, name: str) -> dict[str, Any]:
        return repo.labels.get(name) or {"name": name, "color": "ededed", "description": None}

    def _ensure_label(self, repo: FakeRepo, name: str) -> None:
        if not any(existing.casefold() == name.casefold() for existing in repo.labels):
            repo.labels[name] = {
                "id": next(self._ids),
                "name": name,
                "color": "ededed",
                "description": None,
            }

    # ---- shared by the routes --------------------------------------------------------

    def _repo(self, request: Request) -> FakeRepo:
        return self.repos[f"{request.path_params['owner']}/{request.path_params['name']}"]

    def _issue(self, request: Request) -> tuple[FakeRepo, FakeIssue]:
        repo = self._repo(request)
        return repo, repo.issues[request.path_params["num"]]

    def _is_app(self, request: Request) -> bool:
        return request.headers.get("authorization", "").startswith("token ghs_")

    def _actor(self, request: Request) -> str:
        return BOT_LOGIN if self._is_app(request) else "someone"

    def _echo(self, repo: FakeRepo, issue: FakeIssue, action: str, **parts: Any) -> None:
        self.echoes.append(
            (
                "issues",
                self.event_payload(
                    repo, BOT_LOGIN, action=action, issue=self.issue_payload(repo, issue), **parts
                ),
            )
        )
