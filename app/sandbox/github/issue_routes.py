"""The fake's issue routes: issues, their labels, assignees and sub-issues."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.sandbox.github.model import BOT_LOGIN
from app.sandbox.github.state import GitHubState


class IssueRoutes(GitHubState):
    """GitHub's REST endpoints under /repos/{owner}/{name}/issues/{number}, comments apart."""

    def _issue_routes(self) -> list[Route]:
        r = "/repos/{owner}/{name}/issues"
        return [
            Route(r, self.create_issue, methods=["POST"]),
            Route(r, self.list_issues, methods=["GET"]),
            Route(r + "/{num:int}", self.get_issue, methods=["GET"]),
            Route(r + "/{num:int}", self.update_issue, methods=["PATCH"]),
            Route(r + "/{num:int}/labels", self.add_labels, methods=["POST"]),
            Route(r + "/{num:int}/labels", self.set_labels, methods=["PUT"]),
            Route(r + "/{num:int}/labels/{label:path}", self.remove_label, methods=["DELETE"]),
            Route(r + "/{num:int}/sub_issues", self.add_sub_issue, methods=["POST"]),
            Route(r + "/{num:int}/sub_issues", self.list_sub_issues, methods=["GET"]),
            Route(r + "/{num:int}/assignees", self.add_assignees, methods=["POST"]),
            Route(r + "/{num:int}/assignees", self.remove_assignees, methods=["DELETE"]),
        ]

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
