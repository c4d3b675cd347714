"""The sandbox's routes: only while no App is configured; started at the first visit."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.sandbox.demo import LOGINS, REPO, Refused, parse_action
from app.sandbox.page import sandbox_page
from app.sandbox.runner import Sandbox

FORM_MAX_BYTES = 256 * 1024
# The service's own pages are served under /sandbox/board/: their links are rewritten.
_LINK = re.compile(r"""(href|src|action)=(["'])/(?!sandbox/)""")
_BOARD_PATHS = re.compile(r"^(?:|chart\.svg|(?:api/)?incidents(?:/[^/]+/[^/]+/\d{1,9})?)$")


async def running(request: Request) -> Sandbox:
    """The app's sandbox, started on first use; 404 when a real App is configured."""
    app: FastAPI = request.app
    if app.state.services.settings.configured:
        raise HTTPException(404)
    lock = getattr(app.state, "sandbox_lock", None)
    if lock is None:
        lock = app.state.sandbox_lock = asyncio.Lock()
    async with lock:
        sandbox: Sandbox | None = getattr(app.state, "sandbox", None)
        if sandbox is None:
            sandbox = await Sandbox.start(app.state.services.settings.log_level)
            app.state.sandbox = sandbox
        return sandbox


async def close_sandbox(app: FastAPI) -> None:
    sandbox: Sandbox | None = getattr(app.state, "sandbox", None)
    app.state.sandbox = None
    if sandbox is not None:
        async with sandbox.lock:  # an action under way finishes first
            await sandbox.close()


def _actor(value: str | None) -> str:
    return value if value in LOGINS else LOGINS[0]


def make_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/sandbox")
    async def show(request: Request) -> HTMLResponse:
        sandbox = await running(request)
        issue = request.query_params.get("issue", "")
        number = int(issue) if issue.isdigit() and len(issue) < 7 else None
        actor = _actor(request.query_params.get("as"))
        return HTMLResponse(sandbox_page(sandbox.fake, actor, number))

    @router.post("/sandbox/act")
    async def act(request: Request) -> Response:
        sandbox = await running(request)
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > FORM_MAX_BYTES:
            return HTMLResponse("form too large", status_code=413)
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        known = set(sandbox.fake.repos[REPO].issues)
        try:
            action = parse_action(fields, known)
        except Refused as refused:
            actor = _actor(fields.get("actor"))
            typed = fields.get("number", "")
            shown = int(typed) if typed.isdigit() and len(typed) < 7 else None
            page = sandbox_page(sandbox.fake, actor, shown, error=str(refused))
            return HTMLResponse(page, status_code=400)
        shows = await sandbox.act(action)
        target = f"/sandbox?as={action.actor}"
        if shows is not None:
            target += f"&issue={shows}#issue"
        elif action.kind == "policy":
            target += "#policy"
        return RedirectResponse(target, status_code=303)

    @router.post("/sandbox/reset")
    async def reset(request: Request) -> Response:
        await running(request)  # the 404 when configured
        await close_sandbox(request.app)
        return RedirectResponse("/sandbox", status_code=303)

    @router.get("/sandbox/github/{owner}/{name}/issues/{number}")
    async def issue_link(request: Request, owner: str, name: str, number: int) -> Response:
        await running(request)
        return RedirectResponse(f"/sandbox?issue={number}#issue", status_code=303)

    @router.get("/sandbox/board/{path:path}")
    async def board(request: Request, path: str) -> Response:
        """The sandbox service's own dashboard pages, links kept inside the sandbox."""
        sandbox = await running(request)
        if not _BOARD_PATHS.match(path):
            raise HTTPException(404)
        answer = await sandbox.client.get("/" + path, params=dict(request.query_params))
        kind = answer.headers.get("content-type", "text/plain")
        content = answer.content
        if kind.startswith("text/html"):
            text = _LINK.sub(r"\1=\2/sandbox/board/", answer.text)
            back = '<main><p><a href="/sandbox">← Back to the sandbox</a></p>'
            content = text.replace("<main>", back, 1).encode()
        return Response(content, status_code=answer.status_code, media_type=kind)

    return router
