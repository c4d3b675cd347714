"""The fake's repository routes: the label set, collaborators' permissions and file contents."""

from __future__ import annotations

import base64
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.sandbox.github.state import GitHubState


class RepoRoutes(GitHubState):
    """GitHub's REST endpoints for what a repository holds besides its issues."""

    def _repo_routes(self) -> list[Route]:
        r = "/repos/{owner}/{name}"
        return [
            Route(r + "/collaborators/{user}/permission", self.permission, methods=["GET"]),
            Route(r + "/contents/{path:path}", self.get_content, methods=["GET"]),
            Route(r + "/labels", self.list_labels, methods=["GET"]),
            Route(r + "/labels", self.create_label, methods=["POST"]),
            Route(r + "/labels/{label:path}", self.update_label, methods=["PATCH"]),
        ]

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
