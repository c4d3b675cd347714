"""The fake's comment routes: listing, posting and editing an issue's comments."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.sandbox.github.model import FakeComment
from app.sandbox.github.state import GitHubState


class CommentRoutes(GitHubState):
    """GitHub's REST endpoints for issue comments; the app's own comments come back as echoes."""

    def _comment_routes(self) -> list[Route]:
        r = "/repos/{owner}/{name}/issues"
        return [
            Route(r + "/comments/{cid:int}", self.update_comment, methods=["PATCH"]),
            Route(r + "/{num:int}/comments", self.list_comments, methods=["GET"]),
            Route(r + "/{num:int}/comments", self.create_comment, methods=["POST"]),
        ]

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
