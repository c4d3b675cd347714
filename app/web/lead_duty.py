"""The lead duty page: per person, incidents and hours led by severity over 30/90/365 days."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from app.domain.lead_duty import SEVERITIES, WINDOWS, Duty, Load, duty_periods, lead_duty
from app.web.dashboard import can_sign_in, visible_incidents
from app.web.lead_chart import duty_chart_svg, hours, severity_name
from app.web.pages import escape, page

DEFAULT_DAYS = 90

EXPLAINED = (
    "<p class=muted>Every lead period counts: whoever hands over keeps the time they led. "
    "Time counts while the incident is open (from the recording or the hand-over to "
    "Resolved; a reopened incident counts again), at the severity it had then. An incident "
    "counts once per person, under the most severe severity they led it at. Withdrawn "
    "incidents (false alarms) do not count. The lead choice's \u201cled least recently\u201d "
    "reads the same periods.</p>"
)


def _load(load: Load) -> dict[str, Any]:
    return {"incidents": load.incidents, "hours": round(load.hours, 2)}


def duty_json(duties: list[Duty]) -> list[dict[str, Any]]:
    return [
        {
            "login": d.login,
            **_load(d.total),
            "by_severity": [
                {"severity": int(s) if s is not None else None, **_load(d.by_severity[s])}
                for s in SEVERITIES
            ],
        }
        for d in duties
    ]


def _cell(load: Load) -> str:
    if load.incidents == 0 and load.seconds <= 0:
        return "<td class=muted>—</td>"
    return f"<td>{load.incidents} · {hours(load.hours)}</td>"


def duty_table(duties: list[Duty]) -> str:
    heads = "".join(f"<th>{severity_name(s)}</th>" for s in SEVERITIES)
    rows = "".join(
        f"<tr><td>{escape(d.login)}</td><td>{d.total.incidents}</td>"
        f"<td>{hours(d.total.hours)}</td>"
        + "".join(_cell(d.by_severity[s]) for s in SEVERITIES)
        + "</tr>"
        for d in duties
    )
    return (
        "<table><thead><tr><th>Lead</th><th>Incidents led</th><th>Hours led</th>"
        f"{heads}</tr></thead><tbody>{rows}</tbody></table>"
    )


def duty_page(duties: list[Duty], days: int, *, viewer: str | None, sign_in: bool) -> str:
    windows = " · ".join(
        f"<b>{w} days</b>" if w == days else f'<a href="/leads?days={w}">{w} days</a>'
        for w in WINDOWS
    )
    body = (
        f"<section><h1>Lead duty, last {days} days</h1><p>{windows} · "
        '<a href="/api/leads">JSON</a> · <a href="/">Incidents</a></p>'
        f"{duty_chart_svg(duties, days=days)}"
        + (duty_table(duties) if duties else "")
        + f"<p class=muted>Cells: incidents · hours led.</p>{EXPLAINED}</section>"
    )
    return page("Lead duty", body, viewer=viewer, sign_in=sign_in)


def make_router() -> APIRouter:
    router = APIRouter()

    @router.get("/leads", include_in_schema=False)
    async def leads(request: Request, days: int = DEFAULT_DAYS) -> HTMLResponse:
        days = days if days in WINDOWS else DEFAULT_DAYS
        incidents, viewer = await visible_incidents(request)
        duties = lead_duty(duty_periods(incidents), now=datetime.now(UTC), days=days)
        settings = request.app.state.services.settings
        login = viewer.login if viewer else None
        return HTMLResponse(duty_page(duties, days, viewer=login, sign_in=can_sign_in(settings)))

    @router.get("/api/leads", summary="Lead duty per person over 30, 90 and 365 days")
    async def api_leads(request: Request) -> JSONResponse:
        incidents, viewer = await visible_incidents(request)
        periods, now = duty_periods(incidents), datetime.now(UTC)
        return JSONResponse(
            {
                "viewer": viewer.login if viewer else None,
                "windows": [
                    {"days": w, "people": duty_json(lead_duty(periods, now=now, days=w))}
                    for w in WINDOWS
                ],
            }
        )

    return router
