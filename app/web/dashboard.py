"""The dashboard: incidents across installed repos, a page per incident, and the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.domain.lifecycle import MEANINGS
from app.domain.records import Incident
from app.domain.stats import (
    SORTS,
    humanize,
    is_open,
    ordered,
    severity_stats,
    status_since,
    time_to_acknowledge,
    time_to_resolve,
    time_to_stabilize,
)
from app.github.client import GitHubRefused, GitHubUnavailable
from app.settings import Settings
from app.web.auth import Viewer, viewer_of
from app.web.chart import chart_svg
from app.web.followups import incident_section, summary_link, visible_followups
from app.web.notices import config_notes, invalid_configs, next_steps
from app.web.pages import escape, page
from app.web.setup import credentials_present, setup_entry
from app.web.severity_stats import stats_json, stats_section
from app.web.visibility import can_sign_in, visible_incidents

COLUMNS = (
    ("repo", "Incident"),
    ("severity", "Severity"),
    ("status", "Status"),
    ("lead", "Lead"),
    ("age", "Recorded"),
)


def issue_url(settings: Settings, incident: Incident) -> str:
    return f"{settings.github_web_url}/{incident.repo}/issues/{incident.number}"


def incident_json(settings: Settings, incident: Incident, now: datetime) -> dict[str, Any]:
    def seconds(value: Any) -> float | None:
        return value.total_seconds() if value is not None else None

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "repo": incident.repo,
        "number": incident.number,
        "title": incident.title,
        "url": issue_url(settings, incident),
        "status": incident.status.value,
        "severity": int(incident.severity) if incident.severity else None,
        "lead": incident.lead,
        "open": is_open(incident),
        "declared_at": when(incident.declared_at),
        "declared_by": incident.declared_by,
        "stabilized_at": when(incident.stabilized_at),
        "resolved_at": when(incident.resolved_at),
        "reviewed_at": when(incident.reviewed_at),
        "status_since": when(status_since(incident)),
        "time_in_status_seconds": (now - status_since(incident)).total_seconds(),
        "time_to_stabilize_seconds": seconds(time_to_stabilize(incident)),
        "time_to_resolve_seconds": seconds(time_to_resolve(incident)),
        "acknowledged_at": when(incident.acknowledged_at),
        "impact_started_at": when(incident.impact_started_at),
        "time_to_acknowledge_seconds": seconds(time_to_acknowledge(incident)),
    }


def _severity(incident: Incident) -> str:
    level = int(incident.severity) if incident.severity else 0
    text = f"Sev {level}" if level else "none"
    return f"<span class='sev sev{level}'>{text}</span>"


def _incident_link(incident: Incident) -> str:
    return f"/incidents/{incident.repo}/{incident.number}"


def list_page(
    settings: Settings,
    incidents: list[Incident],
    viewer: Viewer | None,
    sort: str,
    notes: str = "",
    *,
    install_url: str | None = None,
    sandbox: bool = False,
    followups: str = "",
) -> str:
    now = datetime.now(UTC)
    heads = "".join(
        f'<th><a href="/?sort={key}">{label}{" ▾" if key == sort else ""}</a></th>'
        for key, label in COLUMNS
    )
    rows = []
    for incident in ordered(incidents, sort):
        css = "" if is_open(incident) else " class=closed"
        rows.append(
            f"<tr{css}><td><a href='{escape(_incident_link(incident))}'>"
            f"{escape(incident.repo)}#{incident.number}</a> {escape(incident.title)}</td>"
            f"<td>{_severity(incident)}</td><td>{escape(incident.status.display)} "
            f"<span class=muted>for {humanize(now - status_since(incident))}</span></td>"
            f"<td>{escape(incident.lead or '—')}</td>"
            f"<td>{incident.declared_at:%Y-%m-%d %H:%M} UTC</td></tr>"
        )
    table = (
        f"<table><thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else next_steps(install_url, sandbox=sandbox)
    )
    open_count = sum(1 for i in incidents if i.managed and is_open(i))
    body = (
        f"{notes}<section><h1>Incidents</h1><p>{open_count} open{followups} · "
        '<a href="/leads">Lead duty</a> · <a href="/api/incidents">JSON</a></p>'
        f"{table}</section>"
    )
    if not incidents:  # nothing to chart yet: the next steps are the page
        return page(
            "Incidents",
            body,
            viewer=viewer.login if viewer else None,
            sign_in=can_sign_in(settings),
        )
    body += stats_section(severity_stats(incidents, now))
    return page(
        "Incidents", body, viewer=viewer.login if viewer else None, sign_in=can_sign_in(settings)
    )


def incident_page(
    settings: Settings, incident: Incident, viewer: Viewer | None, followups: str = ""
) -> str:
    now = datetime.now(UTC)
    facts = [
        ("Status", f"{escape(incident.status.display)}: {escape(MEANINGS[incident.status])}"),
        ("In this status for", humanize(now - status_since(incident))),
        ("Severity", _severity(incident)),
        ("Lead", escape(incident.lead or "—")),
        (
            "Recorded",
            f"{incident.declared_at:%Y-%m-%d %H:%M} UTC by {escape(incident.declared_by)}",
        ),
        ("Time to acknowledge", humanize(time_to_acknowledge(incident))),
        ("Time to stabilize", humanize(time_to_stabilize(incident))),
        ("Time to resolve", humanize(time_to_resolve(incident))),
    ]
    if incident.impact_started_at is not None:
        # Time to stabilize counts from when the impact began, not from the recording.
        facts.insert(5, ("Impact began", f"{incident.impact_started_at:%Y-%m-%d %H:%M} UTC"))
    if incident.reviewed_at is not None:
        facts.append(("Reviewed", f"{incident.reviewed_at:%Y-%m-%d %H:%M} UTC"))
    if not incident.managed:
        facts.append(("Withdrawn", "the incident label was removed (a false alarm)"))
    timeline = "".join(
        f"<tr><td>{e.at:%Y-%m-%d %H:%M:%S}</td><td>+{humanize(e.at - incident.declared_at)}"
        f"</td><td>{escape(e.actor)}</td><td>{escape(e.kind)}</td><td>{escape(e.detail)}</td></tr>"
        for e in incident.timeline
    )
    body = (
        f"<section><h1>{escape(incident.title) or 'Incident'} "
        f"<span class=muted>{escape(incident.repo)}#{incident.number}</span></h1>"
        f'<p><a href="{escape(issue_url(settings, incident))}">Open the issue on GitHub</a></p>'
        "<table>"
        + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
        + f"</table></section>{followups}<section><h2>Timeline</h2><table><thead><tr><th>UTC</th>"
        "<th>since recorded</th><th>who</th><th>what</th><th>detail</th></tr></thead>"
        f"<tbody>{timeline}</tbody></table></section>"
    )
    title = f"{incident.repo}#{incident.number}"
    return page(title, body, viewer=viewer.login if viewer else None, sign_in=can_sign_in(settings))


async def _one(request: Request, owner: str, name: str, number: int) -> Incident:
    incidents, _ = await visible_incidents(request)
    repo = f"{owner}/{name}".lower()
    for incident in incidents:
        if incident.repo.lower() == repo and incident.number == number:
            return incident
    # The same answer whether it does not exist or may not be seen: nothing leaks.
    raise HTTPException(404, "no such incident")


RESTART_PAGE = page(
    "Restart",
    "<section><h1>Restart the service</h1><p>The GitHub App's credentials are set; the "
    "service reads them when it starts.</p></section>",
)


async def install_url(services: Any) -> str | None:
    """The App's installation page on GitHub (its slug is asked once), or None if unknown."""
    if services.github is None:
        return None
    try:
        slug = await services.github.slug()
    except (GitHubUnavailable, GitHubRefused):
        return None
    return f"{services.settings.github_web_url}/apps/{quote(slug)}/installations/new"


def make_router() -> APIRouter:
    router = APIRouter()

    @router.get("/", include_in_schema=False, response_model=None)
    async def index(request: Request, sort: str = "open") -> Response:
        services = request.app.state.services
        if services.github is None:
            if credentials_present(services.settings):
                # Registered since the start: no set-up any more, and nothing to show yet.
                return HTMLResponse(RESTART_PAGE, status_code=404)
            return setup_entry(request)
        incidents, viewer = await visible_incidents(request)
        sort = sort if sort in SORTS else "open"
        notes = config_notes(services.settings, await invalid_configs(request, viewer))
        install = None if incidents else await install_url(services)
        return HTMLResponse(
            list_page(
                services.settings,
                incidents,
                viewer,
                sort,
                notes,
                install_url=install,
                sandbox=services.github is None,
                followups=summary_link(await visible_followups(request, incidents)),
            )
        )

    @router.get("/incidents/{owner}/{name}/{number}", include_in_schema=False)
    async def incident(request: Request, owner: str, name: str, number: int) -> HTMLResponse:
        found = await _one(request, owner, name, number)
        settings = request.app.state.services.settings
        listed = await visible_followups(request, [found])
        section = incident_section(settings, listed)
        return HTMLResponse(incident_page(settings, found, viewer_of(request), section))

    @router.get("/chart.svg", include_in_schema=False)
    async def chart(request: Request) -> Response:
        incidents, _ = await visible_incidents(request)
        svg = chart_svg(severity_stats(incidents, datetime.now(UTC)))
        return Response(svg, media_type="image/svg+xml")

    @router.get("/api/incidents", summary="Incidents the viewer may see, and per-severity stats")
    async def api_incidents(request: Request, sort: str = "open") -> JSONResponse:
        settings = request.app.state.services.settings
        incidents, viewer = await visible_incidents(request)
        now = datetime.now(UTC)
        return JSONResponse(
            {
                "viewer": viewer.login if viewer else None,
                "incidents": [
                    incident_json(settings, i, now)
                    for i in ordered(incidents, sort if sort in SORTS else "open")
                ],
                "stats_90_days": stats_json(severity_stats(incidents, now)),
            }
        )

    @router.get("/api/incidents/{owner}/{name}/{number}", summary="One incident with its timeline")
    async def api_incident(request: Request, owner: str, name: str, number: int) -> JSONResponse:
        found = await _one(request, owner, name, number)
        settings = request.app.state.services.settings
        data = incident_json(settings, found, datetime.now(UTC))
        data["timeline"] = [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "kind": e.kind,
                "detail": e.detail,
                "from": e.from_value,
                "to": e.to_value,
            }
            for e in found.timeline
        ]
        return JSONResponse(data)

    return router
