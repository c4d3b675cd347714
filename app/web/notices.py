"""What the dashboard tells a viewer besides incidents: invalid configs, the next steps."""

from __future__ import annotations

from fastapi import Request

from app.domain.config import CONFIG_PATH, LoadedConfig, in_force
from app.settings import Settings
from app.web.auth import Viewer
from app.web.pages import escape
from app.web.visibility import repo_access as _access


async def invalid_configs(request: Request, viewer: Viewer | None) -> dict[str, LoadedConfig]:
    """Repos the viewer may see whose `.github/incidents.yml` is invalid right now."""
    configs = request.app.state.services.extras.get("configs")
    invalid: dict[str, LoadedConfig] = configs.invalid() if configs else {}
    if not invalid:
        return {}
    visible = await _access(request).visible_repos(set(invalid), viewer)
    return {repo: loaded for repo, loaded in invalid.items() if repo in visible}


def config_notes(settings: Settings, invalid: dict[str, LoadedConfig]) -> str:
    notes = "".join(
        f"<p>The incident config of <a href='{escape(settings.github_web_url)}/{escape(repo)}"
        f"/blob/HEAD/{CONFIG_PATH}'>{escape(repo)}</a> is invalid, so Incident Flow keeps "
        f"using {escape(in_force(loaded))}: "
        + "; ".join(f"<code>{escape(str(error))}</code>" for error in loaded.errors[:3])
        + (f" and {len(loaded.errors) - 3} more" if len(loaded.errors) > 3 else "")
        + "</p>"
        for repo, loaded in sorted(invalid.items())
    )
    return f"<section class=warn>{notes}</section>" if notes else ""


def next_steps(install_url: str | None, *, sandbox: bool) -> str:
    """What an empty dashboard says to do next: install, declare, or try the sandbox."""
    install = (
        f'<a href="{escape(install_url)}">Install the App</a>'
        if install_url
        else "Install the App (its page on GitHub: <i>Install App</i>)"
    )
    try_it = (
        '<p>No App yet? <a href="/sandbox">Try it in the sandbox</a>: a simulated GitHub '
        "in this process, no registration needed.</p>"
        if sandbox
        else ""
    )
    return (
        "<div class=empty><p><b>No incidents yet.</b> To record the first one:</p>"
        f"<ol class=steps><li>{install} on the repositories that run incidents; it creates "
        "its labels there.</li>"
        "<li>Declare an incident: label an issue <code>incident</code> and "
        "<code>severity:1</code> (or 2, 3), or comment <code>/incident 1</code> on it.</li>"
        "<li>The service takes it from there (status comment, lead, timeline) and it "
        "appears here.</li></ol>"
        f"{try_it}</div>"
    )
