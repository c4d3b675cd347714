"""Open follow-ups on the dashboard: per incident and overall, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from app.domain.records import Incident
from app.domain.stats import humanize
from app.settings import Settings
from app.storage.followups import OpenFollowUp, open_followups
from app.web.auth import Viewer
from app.web.pages import escape, page
from app.web.visibility import can_sign_in, visible_incidents


@dataclass(frozen=True)
class Listed:
    """An open follow-up with the incident it follows up."""

    incident: Incident
    followup: OpenFollowUp


async def visible_followups(request: Request, incidents: list[Incident]) -> list[Listed]:
    """The open follow-ups of the incidents the viewer may see, oldest first."""
    by_issue = {(i.repo_id, i.number): i for i in incidents}
    rows = await open_followups(request.app.state.services.engine)
    return [
        Listed(by_issue[(f.repo_id, f.incident_number)], f)
        for f in rows
        if (f.repo_id, f.incident_number) in by_issue
    ]


def per_incident(listed: list[Listed]) -> list[tuple[Incident, list[OpenFollowUp]]]:
    """Grouped by incident; the incident with the oldest open follow-up first."""
    groups: dict[tuple[int, int], tuple[Incident, list[OpenFollowUp]]] = {}
    for item in listed:
        key = (item.incident.repo_id, item.incident.number)
        groups.setdefault(key, (item.incident, []))[1].append(item.followup)
    return list(groups.values())


def followup_url(settings: Settings, incident: Incident, followup: OpenFollowUp) -> str:
    return f"{settings.github_web_url}/{incident.repo}/issues/{followup.number}"


def _age(followup: OpenFollowUp, now: datetime) -> str:
    return humanize(now - followup.opened_at) if followup.opened_at else "—"


def _rows(settings: Settings, listed: list[Listed], now: datetime) -> str:
    return "".join(
        f"<tr><td><a href='{escape(followup_url(settings, i.incident, i.followup))}'>"
        f"{escape(i.incident.repo)}#{i.followup.number}</a> {escape(i.followup.title)}</td>"
        f"<td><a href='/incidents/{escape(i.incident.repo)}/{i.incident.number}'>"
        f"#{i.incident.number}</a> {escape(i.incident.title)}</td>"
        f"<td>{_age(i.followup, now)}</td></tr>"
        for i in listed
    )


def followups_page(settings: Settings, listed: list[Listed], viewer: Viewer | None) -> str:
    now = datetime.now(UTC)
    summary = "".join(
        f"<tr><td><a href='/incidents/{escape(incident.repo)}/{incident.number}'>"
        f"{escape(incident.repo)}#{incident.number}</a> {escape(incident.title)}</td>"
        f"<td>{len(items)}</td><td>{_age(items[0], now)}</td></tr>"
        for incident, items in per_incident(listed)
    )
    body = (
        f"<section><h1>Open follow-ups</h1><p>{len(listed)} open, oldest first · "
        '<a href="/api/followups">JSON</a></p>'
        + (
            "<table><thead><tr><th>Follow-up</th><th>Incident</th><th>Open for</th></tr>"
            f"</thead><tbody>{_rows(settings, listed, now)}</tbody></table>"
            if listed
            else "<p class=muted>None: every follow-up is closed.</p>"
        )
        + "</section>"
    )
    if summary:
        body += (
            "<section><h2>Per incident</h2><table><thead><tr><th>Incident</th>"
            "<th>Open follow-ups</th><th>Oldest open for</th></tr></thead>"
            f"<tbody>{summary}</tbody></table></section>"
        )
    viewing = viewer.login if viewer else None
    return page("Open follow-ups", body, viewer=viewing, sign_in=can_sign_in(settings))


def incident_section(settings: Settings, listed: list[Listed]) -> str:
    """The incident page's part: its open follow-ups, oldest first."""
    if not listed:
        return ""
    now = datetime.now(UTC)
    rows = "".join(
        f"<tr><td><a href='{escape(followup_url(settings, i.incident, i.followup))}'>"
        f"#{i.followup.number}</a> {escape(i.followup.title)}</td>"
        f"<td>{_age(i.followup, now)}</td></tr>"
        for i in listed
    )
    return (
        "<section><h2>Open follow-ups</h2><table><thead><tr><th>Follow-up</th>"
        f"<th>Open for</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def summary_link(listed: list[Listed]) -> str:
    """The incident list's link to the follow-ups, with how many are open."""
    if not listed:
        return ""
    plural = "" if len(listed) == 1 else "s"
    return f' · <a href="/followups">{len(listed)} open follow-up{plural}</a>'


def followup_json(settings: Settings, item: Listed) -> dict[str, Any]:
    opened = item.followup.opened_at
    return {
        "repo": item.incident.repo,
        "number": item.followup.number,
        "title": item.followup.title,
        "url": followup_url(settings, item.incident, item.followup),
        "opened_at": opened.isoformat() if opened else None,
        "incident": item.incident.number,
    }


def make_router() -> APIRouter:
    router = APIRouter()

    @router.get("/followups", include_in_schema=False)
    async def followups(request: Request) -> HTMLResponse:
        incidents, viewer = await visible_incidents(request)
        listed = await visible_followups(request, incidents)
        settings = request.app.state.services.settings
        return HTMLResponse(followups_page(settings, listed, viewer))

    @router.get("/api/followups", summary="Open follow-ups the viewer may see, oldest first")
    async def api_followups(request: Request) -> JSONResponse:
        incidents, viewer = await visible_incidents(request)
        listed = await visible_followups(request, incidents)
        settings = request.app.state.services.settings
        return JSONResponse(
            {
                "viewer": viewer.login if viewer else None,
                "followups": [followup_json(settings, item) for item in listed],
                "incidents": [
                    {"repo": i.repo, "number": i.number, "open_followups": len(items)}
                    for i, items in per_incident(listed)
                ],
            }
        )

    return router
