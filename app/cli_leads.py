"""`incident-flow incidents leads`: lead duty per person in the terminal, as on the dashboard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.lead_duty import SEVERITIES, WINDOWS, Duty, Load, duty_periods, lead_duty
from app.storage.lead_history import lead_history


async def lead_report(
    engine: AsyncEngine, *, repo: str | None, days: int | None, now: datetime
) -> str:
    """Lead duty over each window (or the one asked for), of one repository or all."""
    records = await lead_history(engine)
    if repo is not None:
        # GitHub names are case-insensitive; the store keeps GitHub's spelling.
        records = [r for r in records if r.repo.casefold() == repo.casefold()]
    periods = duty_periods(records)
    windows = (days,) if days is not None else WINDOWS
    return "\n\n".join(
        duty_table(lead_duty(periods, now=now, days=window), window) for window in windows
    )


def duty_table(duties: list[Duty], days: int) -> str:
    if not duties:
        return f"last {days} days: nobody led an incident"
    heads = [f"SEV {int(s)}" if s is not None else "NO SEV" for s in SEVERITIES]
    rows = [("LEAD", "INCIDENTS", "HOURS", *heads)]
    for duty in duties:
        cells = [_cell(duty.by_severity[s]) for s in SEVERITIES]
        rows.append((duty.login, str(duty.total.incidents), f"{duty.total.hours:.1f}", *cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines = [line.rstrip() for line in lines]
    return f"last {days} days (per severity: incidents / hours led)\n" + "\n".join(lines)


def _cell(load: Load) -> str:
    return f"{load.incidents} / {load.hours:.1f}" if load.incidents or load.seconds > 0 else "-"
