"""Viewers: signed-cookie sessions, sign-in with GitHub (the App's OAuth), who may read what."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.fernet import Fernet, InvalidToken
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.settings import Settings
from app.storage.db import incidents, reading
from app.web.pages import SIGN_OUT_FORM, escape, page

log = logging.getLogger(__name__)

CALLBACK_PATH = "/auth/callback"


def session_secret(settings: Settings) -> str:
    """SESSION_SECRET, else one derived from the App's secrets so restarts keep sessions."""
    if settings.session_secret:
        return settings.session_secret
    seed = settings.github_client_secret or settings.webhook_secret
    if seed:
        return hmac.new(seed.encode(), b"incident-flow session", hashlib.sha256).hexdigest()
    # Not configured yet: sessions only need to last through the set-up in this process.
    return secrets.token_hex(32)


class SessionCookies:
    """Starlette's signed-cookie sessions, the cookie `Secure` whenever the request came
    over https: PUBLIC_URL says so (`https_only`), or the scheme does (uvicorn takes it
    from a trusted proxy's X-Forwarded-Proto)."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.plain = SessionMiddleware(app, **options)
        self.secure = SessionMiddleware(app, **{**options, "https_only": True})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = scope.get("scheme") in ("https", "wss")
        await (self.secure if https else self.plain)(scope, receive, send)


def _sealer(settings: Settings) -> Fernet:
    key = hashlib.sha256(f"{session_secret(settings)}:viewer-token".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(settings: Settings, token: str) -> str:
    """Encrypt the viewer's GitHub token: the session cookie is signed, not secret."""
    return _sealer(settings).encrypt(token.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str | None:
    try:
        return _sealer(settings).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None


class SignedOut(Exception):
    """GitHub no longer accepts the viewer's token (expired or revoked)."""


@dataclass(frozen=True)
class Viewer:
    login: str
    token: str


def viewer_of(request: Request) -> Viewer | None:
    data = request.session.get("viewer")
    if not isinstance(data, dict) or not data.get("login") or not data.get("token"):
        return None
    token = unseal(request.app.state.services.settings, str(data["token"]))
    return Viewer(str(data["login"]), token) if token else None


@dataclass
class RepoAccess:
    """Which repositories' incidents a viewer may see; GitHub's answers cached for `ttl`."""

    services: Any
    ttl: float = 300.0
    _public: dict[str, tuple[float, bool]] = field(default_factory=dict)
    _readable: dict[tuple[str, str], tuple[float, bool]] = field(default_factory=dict)

    def _http(self) -> httpx.AsyncClient:
        settings: Settings = self.services.settings
        return httpx.AsyncClient(
            base_url=settings.github_api_url,
            transport=self.services.github_transport,
            timeout=10.0,
            headers={"Accept": "application/vnd.github+json"},
        )

    async def installations(self) -> dict[str, int]:
        async with reading(self.services.engine) as conn:
            rows = await conn.execute(
                select(incidents.c.repo, func.max(incidents.c.installation_id)).group_by(
                    incidents.c.repo
                )
            )
            return {repo: int(iid) for repo, iid in rows if iid is not None}

    async def is_public(self, repo: str, installation_id: int | None) -> bool:
        """Asked as the App; anything but a clear "public" counts as private."""
        cached = self._public.get(repo)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        public = False
        github = self.services.github
        if github is not None and installation_id is not None:
            try:
                data = await github.installation(installation_id).request("GET", f"/repos/{repo}")
                public = (data or {}).get("private") is False
            except Exception:
                log.warning("could not read the visibility of %s", repo, exc_info=True)
                return False  # not cached: try again on the next view
        self._public[repo] = (time.monotonic(), public)
        return public

    async def can_read(self, viewer: Viewer, repo: str) -> bool:
        """Asked with the viewer's own token: GitHub shows a private repo only to readers."""
        key = (viewer.login.lower(), repo.lower())
        cached = self._readable.get(key)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            async with self._http() as http:
                response = await http.get(
                    f"/repos/{repo}", headers={"Authorization": f"Bearer {viewer.token}"}
                )
        except httpx.HTTPError:
            log.warning("could not check %s for %s", repo, viewer.login, exc_info=True)
            return False
        if response.status_code == 401:
            raise SignedOut(viewer.login)
        readable = response.status_code == 200
        self._readable[key] = (time.monotonic(), readable)
        return readable

    async def visible_repos(self, repos: set[str], viewer: Viewer | None) -> set[str]:
        installs = await self.installations()
        visible = set()
        for repo in sorted(repos):
            if await self.is_public(repo, installs.get(repo)) or (
                viewer is not None and await self.can_read(viewer, repo)
            ):
                visible.add(repo)
        return visible


def _base(settings: Settings, request: Request) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def make_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/auth/login", response_model=None)
    async def login(request: Request) -> Response:
        settings: Settings = request.app.state.services.settings
        if not settings.github_client_id or not settings.github_client_secret:
            return HTMLResponse(
                page(
                    "Sign in",
                    "<section class=warn>Sign-in needs the App's OAuth client: set "
                    "<code>GITHUB_CLIENT_ID</code> and <code>GITHUB_CLIENT_SECRET</code> (the "
                    "set-up page writes both).</section>",
                ),
                status_code=503,
            )
        state = secrets.token_urlsafe(16)
        request.session["oauth_state"] = state
        query = urlencode(
            {
                "client_id": settings.github_client_id,
                "redirect_uri": _base(settings, request) + CALLBACK_PATH,
                "state": state,
            }
        )
        return RedirectResponse(f"{settings.github_web_url}/login/oauth/authorize?{query}", 302)

    @router.get(CALLBACK_PATH, response_model=None)
    async def callback(request: Request, code: str = "", state: str = "") -> Response:
        services = request.app.state.services
        settings: Settings = services.settings
        expected = request.session.pop("oauth_state", None)
        if not code or not expected or not secrets.compare_digest(state, expected):
            return _refused("This sign-in link did not come from us.")
        try:
            token = await exchange_code(settings, request, code, services.github_transport)
            login = await user_login(settings, token, services.github_transport)
        except (httpx.HTTPError, ValueError) as exc:
            return _refused(f"GitHub did not sign you in: {exc}.")
        request.session["viewer"] = {"login": login, "token": seal(settings, token)}
        return RedirectResponse("/", 303)

    @router.get("/auth/logout")
    async def logout_form() -> HTMLResponse:
        # A link (or an image another site embeds) must not sign anyone out: only the form.
        body = f"<section><h1>Sign out</h1>{SIGN_OUT_FORM}</section>"
        return HTMLResponse(page("Sign out", body))

    @router.post("/auth/logout")
    async def logout(request: Request) -> RedirectResponse:
        request.session.pop("viewer", None)
        return RedirectResponse("/", 303)

    return router


def _refused(reason: str) -> HTMLResponse:
    body = f'<section class=warn>{escape(reason)} <a href="/auth/login">Try again</a>.</section>'
    return HTMLResponse(page("Sign in", body), status_code=400)


async def exchange_code(settings: Settings, request: Request, code: str, transport: Any) -> str:
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as http:
        response = await http.post(
            f"{settings.github_web_url}/login/oauth/access_token",
            data={
                "client_id": settings.github_client_id,
                "client_secret": settings.github_client_secret,
                "code": code,
                "redirect_uri": _base(settings, request) + CALLBACK_PATH,
            },
            headers={"Accept": "application/json"},
        )
    data = response.json()
    if not data.get("access_token"):
        raise ValueError(str(data.get("error") or response.status_code))
    return str(data["access_token"])


async def user_login(settings: Settings, token: str, transport: Any) -> str:
    async with httpx.AsyncClient(
        base_url=settings.github_api_url, transport=transport, timeout=10.0
    ) as http:
        response = await http.get("/user", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return str(response.json()["login"])
