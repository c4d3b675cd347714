"""First run: register the GitHub App from a manifest and write its credentials to `.env`."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.settings import Settings
from app.web import setup_gate
from app.web.env_file import env_values, existing_keys, write_env
from app.web.manifest import CALLBACK_PATH, convert
from app.web.pages import escape, page
from app.web.setup_gate import (
    PENDING_SECONDS,
    SETUP_PATH,
    SetupGate,
    credentials_present,
    gate_of,
)
from app.web.setup_pages import (
    done_page,
    lost_page,
    setup_page,
    start_again,
    token_page,
    values_page,
)


def announce(app_state: Any, settings: Settings) -> None:
    """At start, unconfigured: print the set-up link with this process's token on the
    console (not in the logs), as Jupyter does; only who sees the console can set up."""
    gate = SetupGate()
    app_state.setup_gate = gate
    if credentials_present(settings):
        return
    base = (settings.public_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    print(
        f"\nNo GitHub App is configured. To register one, open\n"
        f"    {base}{SETUP_PATH}?token={gate.token}\n"
        "(the token changes at every start)\n",
        file=sys.stderr,
        flush=True,
    )


def _open_only(request: Request) -> None:
    """Every set-up route: gone (404) as soon as the App's credentials exist."""
    if credentials_present(request.app.state.services.settings):
        raise HTTPException(404)


def _granted(request: Request) -> bool:
    held = request.session.get("setup_grant")
    return isinstance(held, str) and secrets.compare_digest(held, gate_of(request).grant())


def _netloc(netloc: str) -> str:
    netloc = netloc.strip().lower()
    for default in (":80", ":443"):
        netloc = netloc.removesuffix(default)
    return netloc


def elsewhere(settings: Settings, request: Request) -> bool:
    """The page was opened on another host than PUBLIC_URL's: GitHub would bring the browser
    back to PUBLIC_URL's host, where this host's cookie does not exist."""
    if not settings.public_url:
        return False
    public = _netloc(urlsplit(settings.public_url).netloc)
    # A tunnel or proxy that rewrites Host names the original in X-Forwarded-Host.
    served = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    return bool(public) and _netloc(served.split(",")[0]) != public


def setup_entry(request: Request) -> Response:
    """The set-up page: 404 once configured; on PUBLIC_URL's host; the console token first;
    then the form."""
    settings: Settings = request.app.state.services.settings
    if credentials_present(settings):
        raise HTTPException(404)
    token = request.query_params.get("token")
    gate = gate_of(request)
    if token is not None and not secrets.compare_digest(token, gate.token):
        return token_page()
    if elsewhere(settings, request):
        # The token goes along (only a valid one): the public host grants the session.
        query = "?" + urlencode({"token": token}) if token is not None else ""
        public = str(settings.public_url).rstrip("/")
        return RedirectResponse(public + SETUP_PATH + query, 303)
    if token is not None:
        request.session["setup_grant"] = gate.grant()
        # Out of the address bar, history and Referer at once.
        return RedirectResponse(request.url.path, 303)
    if not _granted(request):
        return token_page()
    return setup_page(settings, request)


def make_router() -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[Depends(_open_only)])

    @router.get(SETUP_PATH, response_model=None)
    async def setup(request: Request) -> Response:
        return setup_entry(request)

    @router.get(CALLBACK_PATH, response_model=None)
    async def callback(request: Request, code: str = "", state: str = "") -> Response:
        services = request.app.state.services
        settings: Settings = services.settings
        gate = gate_of(request)
        # The state alone (unguessable, handed out to a granted page only, single-use)
        # vouches for this request: the browser may come back without our cookie.
        registration = gate.use_state(state) if state else None
        if registration is None:
            return lost_page(settings, None)
        request.session.pop("setup_state", None)
        request.session["setup_grant"] = gate.grant()  # for the confirmation that may follow
        if not code:
            return lost_page(settings, registration, "GitHub sent no code back.")
        try:
            app = await convert(settings, code, services.github_transport)
        except (ValueError, httpx.HTTPError) as exc:
            reason = f"GitHub did not hand over the App: {exc}."
            return lost_page(settings, registration, reason, 502)
        values = env_values(app)
        if registration.channel:
            values["WEBHOOK_PROXY_URL"] = registration.channel
        path = settings.setup_env_file
        present = existing_keys(path)
        if present:
            # Never overwrite without asking: keep the App here until the user decides.
            token = secrets.token_urlsafe(16)
            gate.pending[token] = (setup_gate.clock() + PENDING_SECONDS, app, values)
            request.session["setup_token"] = token
            return HTMLResponse(
                page(
                    "Replace settings?",
                    "<section class=warn><h1>Settings already exist</h1>"
                    f"<p><code>{escape(str(path))}</code> already sets "
                    f"{escape(', '.join(present))}. Nothing was written.</p>"
                    f'<form method=post action="/setup/confirm">'
                    f'<input type=hidden name=token value="{token}">'
                    f"<button type=submit>Replace them with the new App “"
                    f"{escape(str(app.get('name') or app.get('slug')))}”</button></form>"
                    '<p><a href="/">Keep the existing settings</a></p></section>',
                )
            )
        return _write(app, values, path)

    @router.post("/setup/confirm", response_model=None)
    async def confirm(request: Request, token: str = Form("")) -> Response:
        if not _granted(request):
            return token_page()
        pending = gate_of(request).pending
        owner = request.session.get("setup_token")
        entry = (
            pending.pop(token, None)
            if isinstance(owner, str) and secrets.compare_digest(token, owner)
            else None
        )
        if entry is None or entry[0] < setup_gate.clock():
            return start_again("This confirmation has expired.")
        request.session.pop("setup_token", None)
        settings: Settings = request.app.state.services.settings
        return _write(entry[1], entry[2], settings.setup_env_file)

    return router


def _write(app: dict[str, Any], values: dict[str, str], path: Path) -> HTMLResponse:
    try:
        write_env(path, values)
    except OSError as exc:
        return HTMLResponse(values_page(values, f"{path} could not be written: {exc}."))
    return HTMLResponse(done_page(app, path))
