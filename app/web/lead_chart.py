"""The lead duty chart as server-rendered SVG: hours led per person, stacked by severity."""

from __future__ import annotations

from html import escape

from app.domain.lead_duty import SEVERITIES, Duty
from app.domain.lifecycle import Severity
from app.web.chart import nice_top

WIDTH = 760
LEFT, RIGHT, TOP, BOTTOM, ROW = 150, 24, 44, 28, 26
MOST = 25  # people charted; the table lists everyone
# The severity badges' colours (app/web/pages.py), so a bar reads like the badge beside it.
COLOURS: dict[Severity | None, str] = {
    Severity.CRITICAL: "#b60205",
    Severity.MAJOR: "#bc4c00",
    Severity.MINOR: "#9a6700",
    None: "#57606a",
}


def severity_name(severity: Severity | None) -> str:
    return f"Sev {int(severity)}" if severity is not None else "No severity"


def hours(value: float) -> str:
    return f"{value:.1f} h"


def duty_chart_svg(duties: list[Duty], *, days: int) -> str:
    """One bar per person (the most loaded first), one segment per severity led."""
    shown = duties[:MOST]
    height = TOP + max(len(shown), 1) * ROW + BOTTOM
    top = nice_top(max((d.total.hours for d in shown), default=0.0) or 1.0)
    plot_w = WIDTH - LEFT - RIGHT
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" font-family="system-ui,sans-serif" '
        f'font-size="12"><title>Hours led per person by severity, last {days} days</title>',
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
    ]
    for i, severity in enumerate(SEVERITIES):
        key = LEFT + i * 120
        out.append(
            f'<rect x="{key}" y="12" width="12" height="12" fill="{COLOURS[severity]}"/>'
            f'<text x="{key + 18}" y="22">{severity_name(severity)}</text>'
        )
    bottom = TOP + max(len(shown), 1) * ROW
    for tick in range(5):
        grid = LEFT + plot_w * tick / 4
        out.append(
            f'<line x1="{grid:.1f}" x2="{grid:.1f}" y1="{TOP}" y2="{bottom}" stroke="#d8dee4"/>'
            f'<text x="{grid:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#57606a">'
            f"{top * tick / 4:g} h</text>"
        )
    if not shown:
        out.append(
            f'<text x="{LEFT + 8}" y="{TOP + 17}" fill="#57606a">'
            f"Nobody led an incident in the last {days} days.</text>"
        )
    for row, duty in enumerate(shown):
        y = TOP + row * ROW + 4
        name = duty.login if len(duty.login) <= 20 else duty.login[:19] + "…"
        out.append(f'<text x="{LEFT - 8}" y="{y + 13}" text-anchor="end">{escape(name)}</text>')
        x = float(LEFT)
        for severity in SEVERITIES:
            load = duty.by_severity[severity]
            if load.seconds <= 0:
                continue
            w = plot_w * load.hours / top
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 8}" '
                f'fill="{COLOURS[severity]}"><title>{escape(duty.login)}, '
                f"{severity_name(severity)}: {hours(load.hours)}, {load.incidents} "
                f"incident{'s' if load.incidents != 1 else ''}</title></rect>"
            )
            x += w
    out.append("</svg>")
    return "".join(out)
