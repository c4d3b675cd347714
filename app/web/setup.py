"""First run: register the GitHub App from a manifest and write its credentials to `.env`."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from dotenv import dotenv_values
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.settings import Settings
from app.web.pages import escape, page

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
NEW_CHANNEL_URL = "https://smee.io/new"  # Probot's proxy channels: a fresh one per visit
MAX_URL = 300  # a channel address longer than this is not one
clock = time.monotonic  # seam for tests


@dataclass
class Registration:
    """What one manifest `state` stands for: until when it works, the App's settings page on
    GitHub (where it can be deleted if it is lost), the proxy channel its webhooks go to."""

    expiry: float
    settings_url: str
    channel: str | None = None


@dataclass
class SetupGate:
    """This process's set-up secrets: the console token, outstanding states, conversions
    waiting for an overwrite to be confirmed. In memory only: a restart voids them all."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    states: dict[str, Registration] = field(default_factory=dict)
    pending: dict[str, tuple[float, dict[str, Any], dict[str, str]]] = field(default_factory=dict)

    def grant(self) -> str:
        """What the session keeps once the token was shown: not the token itself (the
        cookie is signed, not secret), and worthless to the next process."""
        return hmac.new(self.token.encode(), b"setup-grant", hashlib.sha256).hexdigest()

    def new_state(self, settings_url: str, channel: str | None = None) -> str:
        now = clock()
        for state, held in list(self.states.items()):
            if held.expiry < now:
                del self.states[state]
        while len(self.states) >= MAX_STATES:
            del self.states[next(iter(self.states))]  # the oldest
        state = secrets.token_urlsafe(16)
        self.states[state] = Registration(now + STATE_SECONDS, settings_url, channel)
        return state

    def use_state(self, state: str) -> Registration | None:
        """A state works once, before it expires; using it consumes it whatever follows.
        The store alone decides: GitHub may bring the browser back on another host than the
        one the page was opened on, where no cookie of ours exists."""
        held = self.states.pop(state, None)
        return held if held is not None and held.expiry >= clock() else None


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


def build_manifest(
    settings: Settings, base_url: str, name: str = APP_NAME, channel: str | None = None
) -> dict[str, Any]:
    """The App manifest GitHub registers; URLs from PUBLIC_URL, else from the request; the
    webhooks go to the proxy channel when there is one (WEBHOOK_PROXY_URL, or chosen here)."""
    public = (settings.public_url or base_url).rstrip("/")
    hook = channel or settings.webhook_proxy_url or public + settings.webhook_path
    return {
        "name": name,
        "url": public,
        "description": DESCRIPTION,
        "hook_attributes": {"url": hook, "active": True},
        "redirect_url": public + CALLBACK_PATH,
        "callback_urls": [public + "/auth/callback"],
        "setup_url": public + "/",
        "public": False,
        "request_oauth_on_install": False,
        "default_permissions": dict(PERMISSIONS),
        "default_events": list(EVENTS),
    }


def unreachable_reason(url: str) -> str | None:
    """Why GitHub would refuse to send webhooks to `url` (a loopback or private address,
    `localhost`, a `.local` name), or None. GitHub refuses the whole manifest then."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return "it has no host"
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return f"{host} is a name only this network knows"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return f"{host} is this machine's own (loopback) address"
    if address.is_private or address.is_link_local:
        return f"{host} is a private network address"
    return None


def app_settings_url(settings: Settings, name: str, org: str | None) -> str:
    """Where the App registered under `name` lives on GitHub (GitHub derives the slug from
    the name this way; an App renamed since is found in the list one level up)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    owner = f"/organizations/{org}" if org else ""
    return f"{settings.github_web_url}{owner}/settings/apps" + (f"/{slug}" if slug else "")


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


def _channel_of(settings: Settings, request: Request) -> tuple[str | None, str]:
    """The proxy channel chosen on the page (else WEBHOOK_PROXY_URL), and an error to show."""
    given = (request.query_params.get("channel") or "").strip()
    if not given:
        return settings.webhook_proxy_url, ""
    parts = urlsplit(given)
    if len(given) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        return settings.webhook_proxy_url, "<p class=warn>That channel is not an http(s) URL.</p>"
    return given, ""


def _register_form(
    settings: Settings, request: Request, name: str, org: str | None, channel: str | None
) -> str:
    gate = gate_of(request)
    manifest = build_manifest(settings, str(request.base_url), name, channel)
    registration = Registration(0.0, app_settings_url(settings, name, org), channel)
    state = request.session.get("setup_state")
    held = gate.states.get(state) if isinstance(state, str) else None
    if held is None or held.expiry < clock():
        state = request.session["setup_state"] = gate.new_state(registration.settings_url, channel)
    else:
        registration.expiry = held.expiry  # the same visit: the form as prepared last
        gate.states[str(state)] = registration
    owner = f"the organisation <b>{escape(org)}</b>" if org else "your personal account"
    label = f"Create the App “{escape(name)}” for {owner} on GitHub"
    reason = unreachable_reason(manifest["hook_attributes"]["url"])
    button = f"<button type=submit>{label}</button>"
    if reason:
        # GitHub refuses such a webhook URL after the App's name was asked for: hold.
        button = (
            f"<button type=submit disabled>{label}</button>"
            f"<p class=warn id=held>Held: GitHub refuses to send webhooks to "
            f"<code>{escape(manifest['hook_attributes']['url'])}</code> ({escape(reason)}). "
            "Use a webhook proxy channel (below), or set <code>PUBLIC_URL</code> to an "
            "address GitHub can reach and restart.</p>"
        )
    return (
        f'<form method=post action="{escape(new_app_url(settings, org))}?state={state}">'
        f'<input type=hidden name=manifest value="{escape(json.dumps(manifest))}">'
        f"{button}</form>"
    )


def setup_page(settings: Settings, request: Request) -> HTMLResponse:
    org = (request.query_params.get("org") or "").strip() or None
    name = (request.query_params.get("name") or "").strip()[:34] or APP_NAME
    channel, error = _channel_of(settings, request)
    hook = build_manifest(settings, str(request.base_url), channel=channel)["hook_attributes"]
    if org and not OWNER.match(org):
        error += f"<p class=warn>“{escape(org)}” is not an organisation name.</p>"
        org = None
    through = (
        " (a webhook proxy channel: the service follows it, no public address needed)"
        if channel
        else ""
    )
    body = (
        "<section><h1>Set up Incident Flow</h1>"
        "<p>No GitHub App is configured yet (<code>APP_ID</code> and <code>PRIVATE_KEY</code> "
        "are not set). Register one from this service's manifest: GitHub creates the App "
        "with the permissions it needs (issues: write, metadata and contents: read) and the "
        "events it uses, then sends you back here, and the App's credentials are written to "
        f"<code>{escape(str(settings.setup_env_file))}</code>.</p>"
        f"<p>GitHub will send webhooks to <code>{escape(hook['url'])}</code>{through}. If "
        "GitHub cannot reach that address (e.g. <code>localhost</code>), use a webhook proxy "
        "channel, or set <code>PUBLIC_URL</code> to an address it can reach (a tunnel, or "
        "your deployment) and restart.</p>"
        f"{error}{_register_form(settings, request, name, org, channel)}</section>"
        "<section><h2>On a laptop: a webhook proxy channel</h2>"
        "<p>GitHub cannot reach a service on your laptop. A proxy channel can: GitHub sends "
        "the webhooks to the channel, and this service follows the channel and hands each "
        "delivery, signature intact, to its own receiver (as Probot apps do). "
        f'<a class=button href="{NEW_CHANNEL_URL}" target=_blank rel=noopener>'
        "Create a channel on smee.io</a>, copy its address "
        "(<code>https://smee.io/…</code>) into the field below and press Prepare. The "
        "address is written to the env file with the App's credentials as "
        "<code>WEBHOOK_PROXY_URL</code>, so the service follows it after the restart. "
        "Anyone who knows the address can read the deliveries: keep it to yourself.</p>"
        "</section>"
        "<section><h2>Another name, an organisation or a channel</h2>"
        "<p class=muted>App names are unique on GitHub. Leave the organisation empty to "
        "register the App on your personal account.</p>"
        f'<form method=get action="{SETUP_PATH}">'
        f'<label>App name <input type=text name=name value="{escape(name)}"></label> '
        f'<label>Organisation <input type=text name=org value="{escape(org or "")}"></label> '
        "<label>Webhook proxy channel (<code>WEBHOOK_PROXY_URL</code>) <input type=text "
        f'name=channel size=40 placeholder="https://smee.io/…" value="{escape(channel or "")}">'
        "</label> <button type=submit>Prepare</button></form></section>"
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
        return _token_page()
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
        gate = gate_of(request)
        # The state alone (unguessable, handed out to a granted page only, single-use)
        # vouches for this request: the browser may come back without our cookie.
        registration = gate.use_state(state) if state else None
        if registration is None:
            return _lost_page(settings, None)
        request.session.pop("setup_state", None)
        request.session["setup_grant"] = gate.grant()  # for the confirmation that may follow
        if not code:
            return _lost_page(settings, registration, "GitHub sent no code back.")
        try:
            app = await convert(settings, code, services.github_transport)
        except (ValueError, httpx.HTTPError) as exc:
            reason = f"GitHub did not hand over the App: {exc}."
            return _lost_page(settings, registration, reason, 502)
        values = env_values(app)
        if registration.channel:
            values["WEBHOOK_PROXY_URL"] = registration.channel
        path = settings.setup_env_file
        present = existing_keys(path)
        if present:
            # Never overwrite without asking: keep the App here until the user decides.
            token = secrets.token_urlsafe(16)
            gate.pending[token] = (clock() + PENDING_SECONDS, app, values)
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
        return _write(entry[1], entry[2], settings.setup_env_file)

    return router


def _lost_page(
    settings: Settings, registration: Registration | None, reason: str = "", status: int = 400
) -> HTMLResponse:
    """The registration went wrong after GitHub may have created the App: what probably
    happened, and where the App is to delete it (its name is taken while it exists)."""
    where = (
        registration.settings_url if registration else f"{settings.github_web_url}/settings/apps"
    )
    if registration is None:
        reason = (
            "This service does not know the link GitHub sent you back with: it was restarted "
            "since the set-up page was opened (or the link was used already, or is over an "
            "hour old)."
        )
    which = "the App's settings" if registration else "your Apps (or your organisation's)"
    body = (
        "<section class=warn><h1>The App was not set up here</h1>"
        f"<p>{escape(reason)} Nothing was written.</p>"
        "<p>GitHub has probably created the App already, and its name is taken while it "
        f'exists: open <a href="{escape(where)}">{which} on GitHub</a> and delete it '
        "(Advanced → Delete GitHub App), or register again under another name.</p>"
        "<p>Then open the set-up link with the token that the service printed on its "
        f'console (a restart prints a new one), or <a href="{SETUP_PATH}">start again</a> '
        "if this browser still has the set-up page open.</p></section>"
    )
    return HTMLResponse(page("Set up", body), status_code=status)


def _start_again(reason: str, status: int = 400) -> HTMLResponse:
    body = f'<section class=warn>{escape(reason)} <a href="{SETUP_PATH}">Start again</a>.</section>'
    return HTMLResponse(page("Set up", body), status_code=status)


def _write(app: dict[str, Any], values: dict[str, str], path: Path) -> HTMLResponse:
    try:
        write_env(path, values)
    except OSError as exc:
        return HTMLResponse(_values_page(values, f"{path} could not be written: {exc}."))
    return HTMLResponse(_done_page(app, path))
