"""First run: register the GitHub App from a manifest and write its credentials to `.env`."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
from dotenv import dotenv_values
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

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
PENDING_SECONDS = 3600.0


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
        "PRIVATE_KEY": str(app["pem"]),
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


def _quoted(value: str) -> str:
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
    state = request.session.setdefault("setup_state", secrets.token_urlsafe(16))
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
        '<form method=get action="/">'
        f'<label>App name <input type=text name=name value="{escape(name)}"></label> '
        f'<label>Organisation <input type=text name=org value="{escape(org or "")}"></label> '
        "<button type=submit>Prepare</button></form></section>"
        '<section><h2>Try it first</h2><p>The <a href="/sandbox">sandbox</a> runs the service '
        "against a simulated GitHub in this process: no App needed.</p></section>"
        "<section><h2>By hand</h2><p class=muted><code>app.yml</code> in the repository holds "
        "the same manifest for registering the App by hand.</p></section>"
    )
    return HTMLResponse(page("Set up", body))


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
    router = APIRouter(include_in_schema=False)

    @router.get(CALLBACK_PATH)
    async def callback(request: Request, code: str = "", state: str = "") -> HTMLResponse:
        services = request.app.state.services
        settings: Settings = services.settings
        expected = request.session.get("setup_state")
        if not code or not expected or not secrets.compare_digest(state, expected):
            return HTMLResponse(
                page(
                    "Set up",
                    "<section class=warn>This link did not come from our set-up "
                    'page. <a href="/">Start again</a>.</section>',
                ),
                status_code=400,
            )
        try:
            app = await convert(settings, code, services.github_transport)
        except (ValueError, httpx.HTTPError) as exc:
            return HTMLResponse(
                page(
                    "Set up",
                    f"<section class=warn>GitHub did not hand over the App: "
                    f'{escape(str(exc))}. <a href="/">Start again</a>.</section>',
                ),
                status_code=502,
            )
        request.session.pop("setup_state", None)
        values = env_values(app)
        path = settings.setup_env_file
        present = existing_keys(path)
        if present:
            # Never overwrite without asking: keep the App here until the user decides.
            token = secrets.token_urlsafe(16)
            _pending(request)[token] = (time.monotonic() + PENDING_SECONDS, app)
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

    @router.post("/setup/confirm")
    async def confirm(request: Request, token: str = Form("")) -> HTMLResponse:
        pending = _pending(request)
        owner = request.session.get("setup_token")
        entry = pending.get(token) if owner and secrets.compare_digest(token, owner) else None
        if entry is None or entry[0] < time.monotonic():
            return HTMLResponse(
                page(
                    "Set up",
                    "<section class=warn>This confirmation has expired. "
                    '<a href="/">Start again</a>.</section>',
                ),
                status_code=400,
            )
        del pending[token]
        request.session.pop("setup_token", None)
        settings: Settings = request.app.state.services.settings
        return _write(entry[1], env_values(entry[1]), settings.setup_env_file)

    return router


def _pending(request: Request) -> dict[str, tuple[float, dict[str, Any]]]:
    """Conversions waiting for the user to confirm an overwrite (codes work only once)."""
    state = request.app.state
    if not hasattr(state, "pending_setup"):
        state.pending_setup = {}
    pending: dict[str, tuple[float, dict[str, Any]]] = state.pending_setup
    return pending


def _write(app: dict[str, Any], values: dict[str, str], path: Path) -> HTMLResponse:
    try:
        write_env(path, values)
    except OSError as exc:
        return HTMLResponse(_values_page(values, f"{path} could not be written: {exc}."))
    return HTMLResponse(_done_page(app, path))
