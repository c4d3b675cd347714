"""The one fake GitHub: its state and routes as one ASGI app, with faults and credential checks."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.sandbox.github.app_routes import AppRoutes
from app.sandbox.github.comment_routes import CommentRoutes
from app.sandbox.github.humans import HumanActions
from app.sandbox.github.issue_routes import IssueRoutes
from app.sandbox.github.model import Call
from app.sandbox.github.repo_routes import RepoRoutes


async def _discard(message: Any) -> None:
    """An ASGI `send` that drops the answer (the work is done, the reply is lost)."""


class FakeGitHub(HumanActions, AppRoutes, IssueRoutes, CommentRoutes, RepoRoutes):
    """The whole fake: state, helpers that act as humans, and the ASGI app."""

    def __init__(self, *, installation_id: int = 100) -> None:
        super().__init__(installation_id=installation_id)
        self.app = Starlette(routes=self._routes())

    def _routes(self) -> list[Route]:
        return (
            self._app_routes() + self._issue_routes() + self._comment_routes() + self._repo_routes()
        )

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
