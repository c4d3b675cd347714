"""The App manifest GitHub registers, where the App lives on GitHub, and its conversion."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.settings import Settings

APP_NAME = "Incident Flow"
DESCRIPTION = "Runs incident response in GitHub issues: one severity, one status, a timeline."
PERMISSIONS = {"issues": "write", "metadata": "read", "contents": "read"}
# `installation` and `installation_repositories` reach every App without subscribing
# (GitHub refuses them in a manifest); these are the events to subscribe to.
EVENTS = ["issues", "issue_comment", "sub_issues", "push"]  # push: .github/incidents.yml
CALLBACK_PATH = "/setup/callback"


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
