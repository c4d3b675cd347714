"""One stateful fake GitHub for every test: issues, labels, comments, tokens and echoes.

Served as an ASGI app (through httpx.ASGITransport, or uvicorn for process tests). It
records every call, can inject failures, and keeps the webhook deliveries the real GitHub
would send back for each change, so tests can feed the app its own echoes.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

APP_SLUG = "incident-flow"
BOT_LOGIN = f"{APP_SLUG}[bot]"
STATUS_MARKER = "<!-- incident-flow:status -->"


def new_private_key() -> str:
    """A fresh RSA key in PEM, as GitHub issues one to an App."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeIssue:
    id: int
    number: int
    title: str
    body: str
    user: str
    created_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    assignees: list[str] = field(default_factory=list)
    sub_issues: list[int] = field(default_factory=list)  # issue ids
    parent: int | None = None  # issue id
    via_app: bool = False


@dataclass
class FakeComment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime
    via_app: bool = False


@dataclass
class FakeRepo:
    id: int
    full_name: str
    private: bool = False
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, FakeIssue] = field(default_factory=dict)
    comments: dict[int, FakeComment] = field(default_factory=dict)
    # login -> role_name; anyone else has read. Alice, every helper's default actor, is a
    # maintainer: the incidents she opens are declared, not reported.
    permissions: dict[str, str] = field(default_factory=lambda: {"alice": "maintain"})
    files: dict[str, str] = field(default_factory=dict)

    @property
    def payload(self) -> dict[str, Any]:
        owner = self.full_name.split("/")[0]
        return {
            "id": self.id,
            "name": self.full_name.split("/")[1],
            "full_name": self.full_name,
            "private": self.private,
            "owner": {"login": owner, "id": 1, "type": "Organization"},
            "html_url": f"https://github.com/{self.full_name}",
        }


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    times: int
    body: dict[str, Any]
    after: bool = False  # GitHub did the work, then the answer was lost (a 502 after commit)


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: Any = None
    at: float = field(default_factory=time.monotonic)  # when the call arrived

    @property
    def is_write(self) -> bool:
        return self.method != "GET" and "access_tokens" not in self.path


async def _discard(message: Any) -> None:
    """An ASGI `send` that drops the answer (the work is done, the reply is lost)."""


class FakeGitHub:
    """The whole fake: state, helpers that act as humans, and the ASGI app."""

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
        self.app = Starlette(routes=self._routes() + self._app_routes())

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
        }

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

    # ---- humans acting in GitHub's UI (each returns the deliveries GitHub sends) ---------

    def label(
        self,
        full_name: str,
        number: int,
        *,
        add: list[str] = (),  # type: ignore[assignment]
        remove: list[str] = (),  # type: ignore[assignment]
        actor: str = "alice",
        advance: bool = True,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Change labels as the sidebar does: one delivery per label, all after the change."""
        repo = self.repos[full_name]
        issue = repo.issues[number]
        if advance:
            self.tick()
        deliveries = []
        for name in add:
            if name not in issue.labels:
                self._ensure_label(repo, name)
                issue.labels.append(name)
        for name in remove:
            if name in issue.labels:
                issue.labels.remove(name)
        issue.updated_at = self.now
        for action, names in (("labeled", add), ("unlabeled", remove)):
            for name in names:
                deliveries.append(
                    (
                        "issues",
                        self.event_payload(
                            repo,
                            actor,
                            action=action,
                            issue=self.issue_payload(repo, issue),
                            label=self._label_payload(repo, name),
                        ),
                    )
                )
        return deliveries

    def open_issue(
        self,
        full_name: str = "octo/ops",
        *,
        labels: list[str] | None = None,
        actor: str = "alice",
        title: str = "Search is down",
    ) -> tuple[FakeIssue, list[tuple[str, dict[str, Any]]]]:
        issue = self.add_issue(full_name, labels=labels, user=actor, title=title)
        repo = self.repos[full_name]
        return issue, [
            (
                "issues",
                self.event_payload(
                    repo, actor, action="opened", issue=self.issue_payload(repo, issue)
                ),
            )
        ]

    def comment(
        self, full_name: str, number: int, body: str, *, actor: str = "alice"
    ) -> list[tuple[str, dict[str, Any]]]:
        repo = self.repos[full_name]
        issue = repo.issues[number]
        self.tick()
        comment = FakeComment(next(self._ids), number, body, actor, self.now, self.now)
        repo.comments[comment.id] = comment
        return [
            (
                "issue_comment",
                self.event_payload(
                    repo,
                    actor,
                    action="created",
                    issue=self.issue_payload(repo, issue),
                    comment=self.comment_payload(repo, comment),
                ),
            )
        ]

    def edit_comment(
        self, full_name: str, comment_id: int, body: str | None, *, actor: str = "alice"
    ) -> list[tuple[str, dict[str, Any]]]:
        """Edit a comment by hand, or delete it (body None): the delivery GitHub sends."""
        repo = self.repos[full_name]
        comment = repo.comments[comment_id]
        self.tick()
        if body is None:
            del repo.comments[comment_id]
        else:
            comment.body = body
            comment.updated_at = self.now
        issue = repo.issues[comment.issue_number]
        return [
            (
                "issue_comment",
                self.event_payload(
                    repo,
                    actor,
                    action="deleted" if body is None else "edited",
                    issue=self.issue_payload(repo, issue),
                    comment=self.comment_payload(repo, comment),
                ),
            )
        ]

    def set_state(
        self,
        full_name: str,
        number: int,
        state: str,
        *,
        actor: str = "alice",
        reason: str | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        repo = self.repos[full_name]
        issue = repo.issues[number]
        self.tick()
        issue.state = state
        issue.state_reason = reason or ("completed" if state == "closed" else "reopened")
        issue.updated_at = self.now
        action = "closed" if state == "closed" else "reopened"
        return [
            (
                "issues",
                self.event_payload(
                    repo, actor, action=action, issue=self.issue_payload(repo, issue)
                ),
            )
        ]

    # ---- the HTTP side ----------------------------------------------------------------

    def _routes(self) -> list[Route]:
        r = "/repos/{owner}/{name}"
        return [
            Route("/app", self.get_app, methods=["GET"]),
            Route("/app/installations/{iid:int}/access_tokens", self.token, methods=["POST"]),
            Route(r + "/issues", self.create_issue, methods=["POST"]),
            Route(r + "/issues", self.list_issues, methods=["GET"]),
            Route(r + "/issues/comments/{cid:int}", self.update_comment, methods=["PATCH"]),
            Route(r + "/issues/{num:int}", self.get_issue, methods=["GET"]),
            Route(r + "/issues/{num:int}", self.update_issue, methods=["PATCH"]),
            Route(r + "/issues/{num:int}/labels", self.add_labels, methods=["POST"]),
            Route(r + "/issues/{num:int}/labels", self.set_labels, methods=["PUT"]),
            Route(
                r + "/issues/{num:int}/labels/{label:path}", self.remove_label, methods=["DELETE"]
            ),
            Route(r + "/issues/{num:int}/comments", self.list_comments, methods=["GET"]),
            Route(r + "/issues/{num:int}/comments", self.create_comment, methods=["POST"]),
            Route(r + "/issues/{num:int}/sub_issues", self.add_sub_issue, methods=["POST"]),
            Route(r + "/issues/{num:int}/sub_issues", self.list_sub_issues, methods=["GET"]),
            Route(r + "/issues/{num:int}/assignees", self.add_assignees, methods=["POST"]),
            Route(r + "/issues/{num:int}/assignees", self.remove_assignees, methods=["DELETE"]),
            Route(r + "/collaborators/{user}/permission", self.permission, methods=["GET"]),
            Route(r + "/contents/{path:path}", self.get_content, methods=["GET"]),
            Route(r + "/labels", self.list_labels, methods=["GET"]),
            Route(r + "/labels", self.create_label, methods=["POST"]),
            Route(r + "/labels/{label:path}", self.update_label, methods=["PATCH"]),
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        arrived = time.monotonic()
        if self.latency:
            await asyncio.sleep(self.latency)
        for fault in self.faults:
            if fault.times > 0 and fault.method in (method, "*") and fault.pattern.search(path):
                fault.times -= 1
                if fault.after:
                    await self.app(scope, receive, _discard)
                self.calls.append(Call(method, path, fault.status, at=arrived))
                response = JSONResponse(fault.body, fault.status, headers=fault.headers)
                await response(scope, receive, send)
                return
        refusal = self._refuse_credentials(scope)
        if refusal is not None:
            self.calls.append(Call(method, path, 401, at=arrived))
            await refusal(scope, receive, send)
            return
        status_holder: dict[str, int] = {}

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, capture)
        self.calls.append(Call(method, path, status_holder.get("status", 0), at=arrived))

    def _refuse_credentials(self, scope: Any) -> Response | None:
        """GitHub's 401 for an expired or unknown installation token, or a JWT off the clock."""
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode()
        now = self.github_time()
        message = None
        if auth.startswith("token ghs_"):
            if self.installation_tokens.get(auth.removeprefix("token "), now) <= now:
                message = "Bad credentials"
        elif auth.startswith("Bearer ey"):
            claims = jwt.decode(auth.removeprefix("Bearer "), options={"verify_signature": False})
            if claims["iat"] > now:
                message = "'Issued at' claim ('iat') must be an Integer representing a past time"
            elif claims["exp"] > now + 600:
                message = "'Expiration time' claim ('exp') is too far in the future"
            elif claims["exp"] <= now:
                message = "'Expiration time' claim ('exp') must be a future time"
        if message is None:
            return None
        date = format_datetime(datetime.fromtimestamp(now, UTC), usegmt=True)
        return JSONResponse({"message": message}, 401, headers={"date": date})

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

    async def get_app(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"message": "JWT required"}, 401)
        return JSONResponse({"id": 1, "slug": APP_SLUG, "name": "Incident Flow"})

    async def token(self, request: Request) -> Response:
        self.tokens_issued += 1
        token = f"ghs_{uuid.uuid4().hex}"
        self.installation_tokens[token] = self.github_time() + 3600
        expires = datetime.fromtimestamp(self.installation_tokens[token], UTC)
        return JSONResponse({"token": token, "expires_at": iso(expires)}, 201)

    async def get_issue(self, request: Request) -> Response:
        try:
            repo, issue = self._issue(request)
        except KeyError:
            return JSONResponse({"message": "Not Found"}, 404)
        # GitHub stamps every answer with its clock; the app reads after its settle delay.
        date = format_datetime(self.now + timedelta(seconds=2), usegmt=True)
        return JSONResponse(self.issue_payload(repo, issue), headers={"date": date})

    async def update_issue(self, request: Request) -> Response:
        repo, issue = self._issue(request)
        data = await request.json()
        self.tick(seconds=0.001)
        if "state" in data and data["state"] != issue.state:
            issue.state = data["state"]
            issue.state_reason = data.get("state_reason") or (
                "completed" if issue.state == "closed" else "reopened"
            )
            issue.updated_at = self.now
            self._echo(repo, issue, "closed" if issue.state == "closed" else "reopened")
        if "assignees" in data:
            issue.assignees = list(data["assignees"])
            issue.updated_at = self.now
        if "labels" in data:
            issue.labels = list(data["labels"])
        if "title" in data:
            issue.title = data["title"]
        if "body" in data:
            issue.body = data["body"]
        return JSONResponse(self.issue_payload(repo, issue))

    async def create_issue(self, request: Request) -> Response:
        repo = self._repo(request)
        data = await request.json()
        issue = self.add_issue(
            repo.full_name,
            title=data["title"],
            body=data.get("body") or "",
            labels=data.get("labels") or [],
            user=self._actor(request),
            via_app=self._is_app(request),
        )
        issue.assignees = list(data.get("assignees") or [])
        self._echo(repo, issue, "opened")
        return JSONResponse(self.issue_payload(repo, issue), 201)

    async def list_issues(self, request: Request) -> Response:
        repo = self._repo(request)
        wanted = [n for n in request.query_params.get("labels", "").split(",") if n]
        state = request.query_params.get("state", "open")
        issues = [
            i
            for i in sorted(repo.issues.values(), key=lambda i: i.number, reverse=True)
            if (state == "all" or i.state == state)
            and all(any(n.casefold() == w.casefold() for n in i.labels) for w in wanted)
        ]
        per_page = int(request.query_params.get("per_page", 30))
        return JSONResponse([self.issue_payload(repo, i) for i in issues[:per_page]])

    async def add_labels(self, request: Request) -> Response:
        repo, issue = self._issue(request)
        data = await request.json()
        names = data["labels"] if isinstance(data, dict) else data
        self.tick(seconds=0.001)
        for name in names:
            if not any(n.casefold() == name.casefold() for n in issue.labels):
                self._ensure_label(repo, name)
                issue.labels.append(name)
                issue.updated_at = self.now
                self._echo(repo, issue, "labeled", label=self._label_payload(repo, name))
        return JSONResponse([self._label_payload(repo, n) for n in issue.labels])

    async def set_labels(self, request: Request) -> Response:
        repo, issue = self._issue(request)
        data = await request.json()
        issue.labels = list(data["labels"] if isinstance(data, dict) else data)
        return JSONResponse([self._label_payload(repo, n) for n in issue.labels])

    async def remove_label(self, request: Request) -> Response:
        repo, issue = self._issue(request)
        # Read the name from the raw path: an unquoted "/" would not reach this label.
        raw = request.scope.get("raw_path", b"").decode()
        quoted = raw.split("/labels/", 1)[1].split("?")[0]
        if "/" in quoted:
            return JSONResponse({"message": "Not Found"}, 404)
        name = unquote(quoted)
        match = [n for n in issue.labels if n.casefold() == name.casefold()]
        if not match:
            return JSONResponse({"message": "Label does not exist"}, 404)
        self.tick(seconds=0.001)
        issue.labels.remove(match[0])
        issue.updated_at = self.now
        self._echo(repo, issue, "unlabeled", label=self._label_payload(repo, match[0]))
        return JSONResponse([self._label_payload(repo, n) for n in issue.labels])

    async def list_comments(self, request: Request) -> Response:
        repo, issue = self._issue(request)
        per_page = int(request.query_params.get("per_page", 30))
        page = int(request.query_params.get("page", 1))
        comments = sorted(self.comments_on(repo.full_name, issue.number), key=lambda c: c.id)
        since = request.query_params.get("since")
        if since:  # GitHub's filter: comments updated at or after the time
            after = datetime.fromisoformat(since.replace("Z", "+00:00"))
            comments = [c for c in comments if c.updated_at >= after]
        chunk = comments[(page - 1) * per_page : page * per_page]
        return JSONResponse([self.comment_payload(repo, c) for c in chunk])

    async def create_comment(self, request: Request) -> Response:
        repo, issue = self._issue(request)
        data = await request.json()
        self.tick(seconds=0.001)
        comment = FakeComment(
            next(self._ids),
            issue.number,
            data["body"],
            self._actor(request),
            self.now,
            self.now,
            via_app=self._is_app(request),
        )
        repo.comments[comment.id] = comment
        self.echoes.append(
            (
                "issue_comment",
                self.event_payload(
                    repo,
                    comment.user,
                    action="created",
                    issue=self.issue_payload(repo, issue),
                    comment=self.comment_payload(repo, comment),
                ),
            )
        )
        return JSONResponse(self.comment_payload(repo, comment), 201)

    async def update_comment(self, request: Request) -> Response:
        repo = self._repo(request)
        comment = repo.comments.get(request.path_params["cid"])
        if comment is None:
            return JSONResponse({"message": "Not Found"}, 404)
        data = await request.json()
        comment.body = data["body"]
        comment.updated_at = self.now
        return JSONResponse(self.comment_payload(repo, comment))

    async def add_sub_issue(self, request: Request) -> Response:
        repo, parent = self._issue(request)
        data = await request.json()
        child_id = int(data["sub_issue_id"])
        child = next(
            (i for r in self.repos.values() for i in r.issues.values() if i.id == child_id), None
        )
        if child is None:
            return JSONResponse({"message": "sub_issue_id must be an issue id"}, 422)
        if child.parent is not None and child.parent != parent.id:
            return JSONResponse({"message": "already has a parent"}, 422)
        if child_id not in parent.sub_issues:
            parent.sub_issues.append(child_id)
        child.parent = parent.id
        self.echoes.append(
            (
                "sub_issues",
                self.event_payload(
                    repo,
                    BOT_LOGIN,
                    action="sub_issue_added",
                    sub_issue_id=child.id,
                    sub_issue=self.issue_payload(repo, child),
                    parent_issue_id=parent.id,
                    parent_issue=self.issue_payload(repo, parent),
                ),
            )
        )
        return JSONResponse(self.issue_payload(repo, child), 201)

    def hand_add_sub_issue(
        self, full_name: str, parent_number: int, child_number: int, *, actor: str = "alice"
    ) -> list[tuple[str, dict[str, Any]]]:
        repo = self.repos[full_name]
        parent, child = repo.issues[parent_number], repo.issues[child_number]
        parent.sub_issues.append(child.id)
        child.parent = parent.id
        self.tick()
        return [
            (
                "sub_issues",
                self.event_payload(
                    repo,
                    actor,
                    action="sub_issue_added",
                    sub_issue_id=child.id,
                    sub_issue=self.issue_payload(repo, child),
                    parent_issue_id=parent.id,
                    parent_issue=self.issue_payload(repo, parent),
                ),
            )
        ]

    async def list_sub_issues(self, request: Request) -> Response:
        repo, parent = self._issue(request)
        children = [i for i in repo.issues.values() if i.id in parent.sub_issues]
        return JSONResponse([self.issue_payload(repo, c) for c in children])

    async def add_assignees(self, request: Request) -> Response:
        repo, issue = self._issue(request)
        data = await request.json()
        self.tick(seconds=0.001)
        for login in data.get("assignees") or []:
            if login.casefold() not in {a.casefold() for a in issue.assignees}:
                issue.assignees.append(login)
                issue.updated_at = self.now
                self._echo(repo, issue, "assigned", assignee=self.user_payload(login))
        return JSONResponse(self.issue_payload(repo, issue), 201)

    async def remove_assignees(self, request: Request) -> Response:
        repo, issue = self._issue(request)
        data = await request.json()
        self.tick(seconds=0.001)
        gone = {login.casefold() for login in data.get("assignees") or []}
        for login in [a for a in issue.assignees if a.casefold() in gone]:
            issue.assignees.remove(login)
            issue.updated_at = self.now
            self._echo(repo, issue, "unassigned", assignee=self.user_payload(login))
        return JSONResponse(self.issue_payload(repo, issue))

    def push_file(
        self, full_name: str, path: str, text: str | None, *, actor: str = "alice"
    ) -> list[tuple[str, dict[str, Any]]]:
        """Commit a file to the default branch (None deletes it): the push delivery."""
        repo = self.repo(full_name)
        kind = "removed" if text is None else ("modified" if path in repo.files else "added")
        if text is None:
            repo.files.pop(path, None)
        else:
            repo.files[path] = text
        self.tick()
        commit = {"id": uuid.uuid4().hex, "added": [], "modified": [], "removed": []}
        commit[kind] = [path]
        payload = self.event_payload(repo, actor, ref="refs/heads/main", commits=[commit])
        payload["repository"] = {**repo.payload, "default_branch": "main"}
        return [("push", payload)]

    async def permission(self, request: Request) -> Response:
        repo = self._repo(request)
        user = request.path_params["user"]
        role = repo.permissions.get(user, "read")
        legacy = {"triage": "read", "maintain": "write"}.get(role, role)
        return JSONResponse(
            {
                "permission": legacy,
                "role_name": role,
                "user": {
                    **self.user_payload(user),
                    "permissions": {
                        "admin": role == "admin",
                        "maintain": role in ("admin", "maintain"),
                        "push": role in ("admin", "maintain", "write"),
                        "triage": role in ("admin", "maintain", "write", "triage"),
                        "pull": True,
                    },
                },
            }
        )

    async def get_content(self, request: Request) -> Response:
        repo = self._repo(request)
        path = request.path_params["path"]
        if path not in repo.files:
            return JSONResponse({"message": "Not Found"}, 404)
        text = repo.files[path]
        etag = f'"{abs(hash(text))}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        encoded = base64.b64encode(text.encode()).decode()
        return JSONResponse(
            {
                "type": "file",
                "path": path,
                "encoding": "base64",
                "content": encoded,
                "sha": etag.strip('"'),
            },
            headers={"etag": etag},
        )

    async def list_labels(self, request: Request) -> Response:
        repo = self._repo(request)
        return JSONResponse(list(repo.labels.values()))

    async def create_label(self, request: Request) -> Response:
        repo = self._repo(request)
        data = await request.json()
        if any(n.casefold() == data["name"].casefold() for n in repo.labels):
            return JSONResponse(
                {"message": "Validation Failed", "errors": [{"code": "already_exists"}]}, 422
            )
        repo.labels[data["name"]] = {
            "id": next(self._ids),
            "name": data["name"],
            "color": data.get("color", "ededed"),
            "description": data.get("description"),
        }
        return JSONResponse(repo.labels[data["name"]], 201)

    async def update_label(self, request: Request) -> Response:
        repo = self._repo(request)
        raw = request.scope.get("raw_path", b"").decode()
        name = unquote(raw.split("/labels/", 1)[1].split("?")[0])
        match = next((n for n in repo.labels if n.casefold() == name.casefold()), None)
        if match is None:
            return JSONResponse({"message": "Not Found"}, 404)
        data = await request.json()
        repo.labels[match].update({k: v for k, v in data.items() if k in ("color", "description")})
        return JSONResponse(repo.labels[match])

    # ---- the App's side: installations, delivery log, manifest, OAuth -----------------

    def installation_event(
        self, repos: list[str], *, action: str = "created", event: str = "installation"
    ) -> list[tuple[str, dict[str, Any]]]:
        """What GitHub sends when the App is installed on (or given) these repositories."""
        listed = [
            {k: v for k, v in self.repo(name).payload.items() if k != "owner"} for name in repos
        ]
        key = "repositories_added" if event == "installation_repositories" else "repositories"
        payload = {
            "action": action,
            "installation": {"id": self.installation_id, "account": {"login": "octo"}},
            "sender": self.user_payload("alice"),
            key: listed,
        }
        return [(event, payload)]

    def log_delivery(
        self, guid: str, *, ok: bool, event: str = "issues", hours_ago: float = 1.0
    ) -> dict[str, Any]:
        """One attempt in the App's webhook delivery log (newest first when listed)."""
        record = {
            "id": next(self._ids),
            "guid": guid,
            "delivered_at": iso(datetime.now(UTC) - timedelta(hours=hours_ago)),
            "redelivery": False,
            "duration": 0.3,
            "status": "OK" if ok else "Invalid HTTP Response: 502",
            "status_code": 200 if ok else 502,
            "event": event,
            "action": "labeled",
            "installation_id": self.installation_id,
            "repository_id": None,
        }
        self.hook_deliveries.append(record)
        return record

    def manifest_code(self, *, app_id: int = 4242, slug: str = "incident-flow-test") -> str:
        """A code GitHub would hand back after registering an App from a manifest."""
        code = f"code-{uuid.uuid4().hex[:8]}"
        self.manifests[code] = {
            "id": app_id,
            "slug": slug,
            "node_id": f"A_{app_id}",
            "name": "Incident Flow (test)",
            "owner": {"login": "octo", "type": "Organization"},
            "html_url": f"https://github.com/apps/{slug}",
            "client_id": f"Iv1.{uuid.uuid4().hex[:16]}",
            "client_secret": uuid.uuid4().hex * 2,
            "webhook_secret": uuid.uuid4().hex,
            "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIfake\nline2\n"
            "-----END RSA PRIVATE KEY-----\n",
        }
        return code

    def oauth_code(self, login: str) -> str:
        """A code GitHub's OAuth page would hand back after `login` authorised the App."""
        code = f"oauth-{uuid.uuid4().hex[:8]}"
        self.oauth_codes[code] = login
        return code

    def _app_routes(self) -> list[Route]:
        return [
            Route("/app/hook/deliveries", self.list_hook_deliveries, methods=["GET"]),
            Route("/app/hook/deliveries/{did:int}/attempts", self.redeliver, methods=["POST"]),
            Route("/app/installations", self.list_installations, methods=["GET"]),
            Route("/app-manifests/{code}/conversions", self.convert_manifest, methods=["POST"]),
            Route("/login/oauth/access_token", self.oauth_token, methods=["POST"]),
            Route("/user", self.get_user, methods=["GET"]),
            Route("/repos/{owner}/{name}", self.get_repo, methods=["GET"]),
            Route("/repos/{owner}/{name}/installation", self.repo_installation, methods=["GET"]),
        ]

    def _jwt(self, request: Request) -> bool:
        return request.headers.get("authorization", "").startswith("Bearer ey")

    def _user_login(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        return self.user_tokens.get(token)

    async def list_hook_deliveries(self, request: Request) -> Response:
        if not self._jwt(request):
            return JSONResponse({"message": "JWT required"}, 401)
        per_page = int(request.query_params.get("per_page", 30))
        start = int(request.query_params.get("cursor", 0))
        newest_first = sorted(self.hook_deliveries, key=lambda d: d["delivered_at"], reverse=True)
        page = newest_first[start : start + per_page]
        headers = {}
        if start + per_page < len(newest_first):
            url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            headers["link"] = f'<{url}?per_page={per_page}&cursor={start + per_page}>; rel="next"'
        return JSONResponse(page, headers=headers)

    async def redeliver(self, request: Request) -> Response:
        if not self._jwt(request):
            return JSONResponse({"message": "JWT required"}, 401)
        did = request.path_params["did"]
        original = next((d for d in self.hook_deliveries if d["id"] == did), None)
        if original is None:
            return JSONResponse({"message": "Not Found"}, 404)
        self.redelivered.append(did)
        self.hook_deliveries.append(
            {
                **original,
                "id": next(self._ids),
                "redelivery": True,
                "status": "OK",
                "status_code": 200,
                "delivered_at": iso(datetime.now(UTC)),
            }
        )
        return JSONResponse({}, 202)

    async def list_installations(self, request: Request) -> Response:
        if not self._jwt(request):
            return JSONResponse({"message": "JWT required"}, 401)
        return JSONResponse([{"id": self.installation_id, "account": {"login": "octo"}}])

    async def convert_manifest(self, request: Request) -> Response:
        app = self.manifests.pop(request.path_params["code"], None)
        if app is None:  # codes work once, within an hour
            return JSONResponse({"message": "Not Found"}, 404)
        return JSONResponse(app, 201)

    async def oauth_token(self, request: Request) -> Response:
        form = await request.form()
        login = self.oauth_codes.pop(str(form.get("code")), None)
        if login is None or not form.get("client_secret"):
            return JSONResponse({"error": "bad_verification_code"})
        token = f"ghu_{uuid.uuid4().hex}"
        self.user_tokens[token] = login
        return JSONResponse({"access_token": token, "token_type": "bearer", "scope": ""})

    async def get_user(self, request: Request) -> Response:
        login = self._user_login(request)
        if login is None:
            return JSONResponse({"message": "Requires authentication"}, 401)
        return JSONResponse(self.user_payload(login))

    async def get_repo(self, request: Request) -> Response:
        repo = self.repos.get(f"{request.path_params['owner']}/{request.path_params['name']}")
        if repo is None:
            return JSONResponse({"message": "Not Found"}, 404)
        login = self._user_login(request)
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ghu_") and login is None:
            return JSONResponse({"message": "Bad credentials"}, 401)  # expired or revoked
        # A private repository exists only for the App and for users who can read it.
        if repo.private and not self._is_app(request) and login not in repo.permissions:
            return JSONResponse({"message": "Not Found"}, 404)
        return JSONResponse(repo.payload)

    async def repo_installation(self, request: Request) -> Response:
        if not self._jwt(request):
            return JSONResponse({"message": "JWT required"}, 401)
        if f"{request.path_params['owner']}/{request.path_params['name']}" not in self.repos:
            return JSONResponse({"message": "Not Found"}, 404)
        return JSONResponse({"id": self.installation_id, "app_slug": APP_SLUG})
