"""First run: register the GitHub App from a manifest and write its credentials to `.env`."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from dotenv import dotenv_values
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.pages import escape, page
from app.settings import Settings

APP_NAME = "Incident Flow"
DESCRIPTION = "Runs incident response in GitHub issues: one severity, one status, a timeline."
PERMISSIONS = {"issues": "write", "metadata": "read", "contents": "read"}
# `installation` and `installation_repositories` reach every App without subscribing
# (GitHub refuses them in a manifest); these are the events to subscribe to.
EVENTS = ["issues", "issue_comment", "sub_issues", "push"]  # push: .github/incidents.yml
ENV_KEYS = ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")
CALLBACK_PATH = "/setup/callback"
OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
SETUP_PATH = "/setup"
PENDING_SECONDS = 3600.0
STATE_SECONDS = 3600.0  # a manifest `state` is good for one registration within the hour
MAX_STATES = 64  # outstanding states kept at most: page loads cannot grow memory
clock = time.monotonic  # seam for tests


@dataclass
class SetupGate:
    """This process's set-up secrets: the console token, outstanding states, conversions
    waiting for an overwrite to be confirmed. In memory only: a restart voids them all."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    states: dict[str, float] = field(default_factory=dict)
    pending: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)

    def grant(self) -> str:
        """What the session keeps once the token was shown: not the token itself (the
        cookie is signed, not secret), and worthless to the next process."""
        return hmac.new(self.token.encode(), b"setup-grant", hashlib.sha256).hexdigest()

    def new_state(self) -> str:
        now = clock()
        for state, expiry in list(self.states.items()):
            if expiry < now:
                del self.states[state]
        while len(self.states) >= MAX_STATES:
            del self.states[next(iter(self.states))]  # the oldest
        state = secrets.token_urlsafe(16)
        self.states[state] = now + STATE_SECONDS
        return state

    def use_state(self, state: str) -> bool:
        """A state works once, before it expires; using it consumes it whatever follows."""
        expiry = self.states.pop(state, None)
        return expiry is not None and expiry >= clock()


def gate_of(request: Request) -> SetupGate:
    state = request.app.state
    if not hasattr(state, "setup_gate"):
        state.setup_gate = SetupGate()  # never announced: nobody holds its token
    gate: SetupGate = state.setup_gate
    return gate


def _has_credentials(values: Any) -> bool:
    found = {str(k).upper(): v for k, v in values.items()}
    return bool(found.get("APP_ID") and (found.get("PRIVATE_KEY") or found.get("PRIVATE_KEY_PATH")))


def credentials_present(settings: Settings) -> bool:
    """The App's credentials exist: loaded at start, or since put in the environment or
    written to the env file (by this set-up, or by hand). Checked on every set-up request."""
    if settings.configured or _has_credentials(os.environ):
        return True
    try:
        return settings.setup_env_file.is_file() and _has_credentials(
            dotenv_values(settings.setup_env_file)
        )
    except (OSError, UnicodeDecodeError):
        return False


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


def build_manifest(settings: Settings, base_url: str, name: str = APP_NAME) -> dict[str, Any]:
    """The App manifest GitHub registers; URLs from PUBLIC_URL, else from the request."""
    public = (settings.public_url or base_url).rstrip("/")
    return {
        "name": name,
        "url": public,
        "description": DESCRIPTION,
        "hook_attributes": {"url": public + settings.webhook_path, "active": True},
        "redirect_url": public + CALLBACK_PATH,
        "callback_urls": [public + "/auth/callback"],
        "setup_url": public + "/",
        "public": False,
        "request_oauth_on_install": False,
        "default_permissions": dict(PERMISSIONS),
        "default_events": list(EVENTS),
    }


def new_app_url(settings: Settings, org: str | None) -> str:
    """GitHub's page that takes a manifest, for a personal account or an organisation."""
    web = settings.github_web_url
    return f"{web}/organizations/{org}/settings/apps/new" if org else f"{web}/settings/apps/new"


def env_values(app: dict[str, Any]) -> dict[str, str]:
    """The settings GitHub's manifest conversion hands us, under our variable names."""
    return {
        "APP_ID": str(app["id"]),
        # On one line with literal "\n" (Settings unescapes them): `docker run --env-file`
        # reads one line per variable and takes the value verbatim.
        "PRIVATE_KEY": str(app["pem"]).replace("\n", "\\n"),
        "WEBHOOK_SECRET": str(app["webhook_secret"]),
        "GITHUB_CLIENT_ID": str(app["client_id"]),
        "GITHUB_CLIENT_SECRET": str(app["client_secret"]),
    }


def existing_keys(path: Path) -> list[str]:
    """Which of our keys already have a value in the env file."""
    if not path.exists():
        return []
    current = dotenv_values(path)
    return [key for key in ENV_KEYS if current.get(key)]


# What `docker run --env-file` and python-dotenv (pydantic-settings) both read verbatim when
# written unquoted: one line, no quote first (dotenv would unquote it), no edge blanks and no
# " #" (dotenv strips them; Docker keeps them).
_PLAIN = re.compile(r"[^\s'\"](?:[^\r\n]*[^\s])?")


def _quoted(value: str) -> str:
    """The value as written after `KEY=`: plain whenever both readers agree on it."""
    if value == "" or (_PLAIN.fullmatch(value) and not re.search(r"\s#", value)):
        return value
    # Never the case for GitHub's values; the service still reads this, Docker would not.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_env(path: Path, values: dict[str, str]) -> None:
    """Set `values` in the env file, replacing earlier lines for the same keys only."""
    text = path.read_text() if path.exists() else ""
    for key in values:
        # One assignment, a double-quoted value possibly spanning lines, or the rest of a line.
        pattern = rf'^(?:export\s+)?{key}\s*=\s*(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\n]*)\n?'
        text = re.sub(pattern, "", text, flags=re.MULTILINE)
    if text and not text.endswith("\n"):
        text += "\n"
    text += "".join(f"{key}={_quoted(value)}\n" for key, value in values.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)  # it holds the App's private key


async def convert(settings: Settings, code: str, transport: Any = None) -> dict[str, Any]:
    """Exchange the code GitHub redirected with for the new App's credentials."""
    async with httpx.AsyncClient(
        base_url=settings.github_api_url, transport=transport, timeout=20.0
    ) as http:
        response = await http.post(
            f"/app-manifests/{code}/conversions",
            headers={"Accept": "application/vnd.github+json"},
        )
    if response.status_code != 201:
        raise ValueError(f"GitHub answered {response.status_code}: {response.text[:200]}")
    data: dict[str, Any] = response.json()
    return data


def _register_form(settings: Settings, request: Request, name: str, org: str | None) -> str:
    gate = gate_of(request)
    state = request.session.get("setup_state")
    if not isinstance(state, str) or gate.states.get(state, 0.0) < clock():
        state = request.session["setup_state"] = gate.new_state()
    manifest = build_manifest(settings, str(request.base_url), name)
    owner = f"the organisation <b>{escape(org)}</b>" if org else "your personal account"
    return (
        f'<form method=post action="{escape(new_app_url(settings, org))}?state={state}">'
        f'<input type=hidden name=manifest value="{escape(json.dumps(manifest))}">'
        f"<button type=submit>Create the App “{escape(name)}” for {owner} on GitHub</button>"
        "</form>"
    )


def setup_page(settings: Settings, request: Request) -> HTMLResponse:
    org = (request.query_params.get("org") or "").strip() or None
    name = (request.query_params.get("name") or "").strip()[:34] or APP_NAME
    error = ""
    hook = build_manifest(settings, str(request.base_url))["hook_attributes"]["url"]
    if org and not OWNER.match(org):
        error = f"<p class=warn>“{escape(org)}” is not an organisation name.</p>"
        org = None
    body = (
        "<section><h1>Set up Incident Flow</h1>"
        "<p>No GitHub App is configured yet (<code>APP_ID</code> and <code>PRIVATE_KEY</code> "
        "are not set). Register one from this service's manifest: GitHub creates the App "
        "with the permissions it needs (issues: write, metadata and contents: read) and the "
        "events it uses, then sends you back here, and the App's credentials are written to "
        f"<code>{escape(str(settings.setup_env_file))}</code>.</p>"
        f"<p>GitHub will send webhooks to <code>{escape(hook)}</code>. If GitHub cannot reach "
        "that address (e.g. <code>localhost</code>), set <code>PUBLIC_URL</code> to one it "
        "can reach (a tunnel, or your deployment) and reload this page.</p>"
        f"{error}{_register_form(settings, request, name, org)}</section>"
        "<section><h2>Another name, or an organisation</h2>"
        "<p class=muted>App names are unique on GitHub. Leave the organisation empty to "
        "register the App on your personal account.</p>"
        f'<form method=get action="{SETUP_PATH}">'
        f'<label>App name <input type=text name=name value="{escape(name)}"></label> '
        f'<label>Organisation <input type=text name=org value="{escape(org or "")}"></label> '
        "<button type=submit>Prepare</button></form></section>"
        + TRY_IT
        + "<section><h2>By hand</h2><p class=muted><code>app.yml</code> in the repository holds "
        "the same manifest for registering the App by hand.</p></section>"
    )
    return HTMLResponse(page("Set up", body))


# The sandbox needs no token: it touches nothing but a simulated GitHub and a temp database.
TRY_IT = (
    '<section><h2>Try it first</h2><p>The <a href="/sandbox">sandbox</a> runs the service '
    "against a simulated GitHub in this process: no App needed.</p></section>"
)


def _token_page() -> HTMLResponse:
    body = (
        "<section class=warn><h1>Set up Incident Flow</h1>"
        "<p>No GitHub App is configured yet. Setting one up needs the link with a one-time "
        "token that the service printed on its console when it started "
        f"(<code>…{SETUP_PATH}?token=…</code>; with <code>make run</code>, in the terminal; "
        "in a container, in its output). Open that link. Restarting the service prints a "
        "new one.</p></section>" + TRY_IT
    )
    return HTMLResponse(page("Set up", body), status_code=403)


def setup_entry(request: Request) -> Response:
    """The set-up page: 404 once configured; the console token first; then the form."""
    settings: Settings = request.app.state.services.settings
    if credentials_present(settings):
        raise HTTPException(404)
    token = request.query_params.get("token")
    if token is not None:
        gate = gate_of(request)
        if not secrets.compare_digest(token, gate.token):
            return _token_page()
        request.session["setup_grant"] = gate.grant()
        # Out of the address bar, history and Referer at once.
        return RedirectResponse(request.url.path, 303)
    if not _granted(request):
        return _token_page()
    return setup_page(settings, request)


def _done_page(app: dict[str, Any], path: Path) -> str:
    html_url = escape(str(app.get("html_url") or ""))
    return page(
        "App registered",
        "<section><h1>The App is registered</h1>"
        f"<p>Its credentials were written to <code>{escape(str(path))}</code>.</p><ol>"
        "<li>Restart the service (<code>make run</code>) so that it reads them.</li>"
        f'<li><a href="{html_url}/installations/new">Install the App</a> on the repositories '
        "that run incidents; it creates its labels there.</li></ol></section>",
    )


def _values_page(values: dict[str, str], reason: str) -> str:
    shown = "\n".join(f"{key}={_quoted(value)}" for key, value in values.items())
    return page(
        "Set these values",
        f"<section class=warn><h1>Set these values yourself</h1><p>{escape(reason)}</p>"
        "<p>Set them as the service's environment (or secrets), then restart it.</p>"
        f"<pre>{escape(shown)}</pre></section>",
    )


def make_router() -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[Depends(_open_only)])

    @router.get(SETUP_PATH, response_model=None)
    async def setup(request: Request) -> Response:
        return setup_entry(request)

    @router.get(CALLBACK_PATH, response_model=None)
    async def callback(request: Request, code: str = "", state: str = "") -> Response:
        services = request.app.state.services
        settings: Settings = services.settings
        if not _granted(request):
            return _token_page()
        expected = request.session.pop("setup_state", None)
        fresh = bool(state) and gate_of(request).use_state(state)
        if not code or not isinstance(expected, str) or not fresh:
            return _start_again(
                "This link did not come from our set-up page, was used already or has expired."
            )
        if not secrets.compare_digest(state, expected):
            return _start_again("This link did not come from our set-up page.")
        try:
            app = await convert(settings, code, services.github_transport)
        except (ValueError, httpx.HTTPError) as exc:
            return _start_again(f"GitHub did not hand over the App: {exc}.", 502)
        values = env_values(app)
        path = settings.setup_env_file
        present = existing_keys(path)
        if present:
            # Never overwrite without asking: keep the App here until the user decides.
            token = secrets.token_urlsafe(16)
            gate_of(request).pending[token] = (clock() + PENDING_SECONDS, app)
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
            return _token_page()
        pending = gate_of(request).pending
        owner = request.session.get("setup_token")
        entry = (
            pending.pop(token, None)
            if isinstance(owner, str) and secrets.compare_digest(token, owner)
            else None
        )
        if entry is None or entry[0] < clock():
            return _start_again("This confirmation has expired.")
        request.session.pop("setup_token", None)
        settings: Settings = request.app.state.services.settings
        return _write(entry[1], env_values(entry[1]), settings.setup_env_file)

    return router


def _start_again(reason: str, status: int = 400) -> HTMLResponse:
    body = f'<section class=warn>{escape(reason)} <a href="{SETUP_PATH}">Start again</a>.</section>'
    return HTMLResponse(page("Set up", body), status_code=status)


def _write(app: dict[str, Any], values: dict[str, str], path: Path) -> HTMLResponse:
    try:
        write_env(path, values)
    except OSError as exc:
        return HTMLResponse(_values_page(values, f"{path} could not be written: {exc}."))
    return HTMLResponse(_done_page(app, path))
