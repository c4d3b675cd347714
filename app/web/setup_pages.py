"""The set-up's pages: the registration form, the token request, and how a registration ended."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.settings import Settings
from app.web import setup_gate
from app.web.env_file import quoted
from app.web.manifest import (
    APP_NAME,
    app_settings_url,
    build_manifest,
    new_app_url,
    unreachable_reason,
)
from app.web.pages import escape, page
from app.web.setup_gate import SETUP_PATH, Registration, gate_of

OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
NEW_CHANNEL_URL = "https://smee.io/new"  # Probot's proxy channels: a fresh one per visit
MAX_URL = 300  # a channel address longer than this is not one


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
    if held is None or held.expiry < setup_gate.clock():
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


def token_page() -> HTMLResponse:
    body = (
        "<section class=warn><h1>Set up Incident Flow</h1>"
        "<p>No GitHub App is configured yet. Setting one up needs the link with a one-time "
        "token that the service printed on its console when it started "
        f"(<code>…{SETUP_PATH}?token=…</code>; with <code>make run</code>, in the terminal; "
        "in a container, in its output). Open that link. Restarting the service prints a "
        "new one.</p></section>" + TRY_IT
    )
    return HTMLResponse(page("Set up", body), status_code=403)


def done_page(app: dict[str, Any], path: Path) -> str:
    html_url = escape(str(app.get("html_url") or ""))
    return page(
        "App registered",
        "<section><h1>The App is registered</h1>"
        f"<p>Its credentials were written to <code>{escape(str(path))}</code>.</p><ol>"
        "<li>Restart the service (<code>make run</code>) so that it reads them.</li>"
        f'<li><a href="{html_url}/installations/new">Install the App</a> on the repositories '
        "that run incidents; it creates its labels there.</li></ol></section>",
    )


def values_page(values: dict[str, str], reason: str) -> str:
    shown = "\n".join(f"{key}={quoted(value)}" for key, value in values.items())
    return page(
        "Set these values",
        f"<section class=warn><h1>Set these values yourself</h1><p>{escape(reason)}</p>"
        "<p>Set them as the service's environment (or secrets), then restart it.</p>"
        f"<pre>{escape(shown)}</pre></section>",
    )


def lost_page(
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


def start_again(reason: str, status: int = 400) -> HTMLResponse:
    body = f'<section class=warn>{escape(reason)} <a href="{SETUP_PATH}">Start again</a>.</section>'
    return HTMLResponse(page("Set up", body), status_code=status)
