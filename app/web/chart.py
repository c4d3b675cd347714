"""The time-to-stabilize/resolve chart as server-rendered SVG: grouped bars per severity."""

from __future__ import annotations

from html import escape

from app.domain.stats import SeverityStats, humanize

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 48
SERIES = (
    ("Stabilize, median", "#54aeff", "to_stabilize", "median"),
    ("Stabilize, p90", "#0969da", "to_stabilize", "p90"),
    ("Resolve, median", "#4ac26b", "to_resolve", "median"),
    ("Resolve, p90", "#1a7f37", "to_resolve", "p90"),
)
UNITS = ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes"), (1.0, "seconds"))


def _unit(largest: float) -> tuple[float, str]:
    for size, name in UNITS:
        if largest >= 2 * size:
            return size, name
    return 1.0, "seconds"


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k at or above `value`: round gridlines."""
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return factor * step
    return 10 * step


def _value(stats: SeverityStats, spread: str, which: str) -> float | None:
    result: float | None = getattr(getattr(stats, spread), which)
    return result


def chart_svg(stats: list[SeverityStats], *, days: int = 90) -> str:
    """Median and p90 time to stabilize and to resolve, per severity, as one SVG."""
    values = [v for s in stats for _, _, sp, w in SERIES if (v := _value(s, sp, w)) is not None]
    size, unit = _unit(max(values, default=0.0))
    top = nice_top(max(values, default=0.0) / size or 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" font-family="system-ui,sans-serif" '
        f'font-size="12"><title>Time to stabilize and resolve per severity, last {days} days'
        "</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]
    for tick in range(5):
        y = TOP + plot_h - plot_h * tick / 4
        label = f"{top * tick / 4:g}"
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d8dee4"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">{label}</text>'
        )
    out.append(
        f'<text x="14" y="{TOP + plot_h / 2:.0f}" transform="rotate(-90 14 {TOP + plot_h / 2:.0f})"'
        f' text-anchor="middle" fill="#57606a">{unit}</text>'
    )
    group_w = plot_w / max(len(stats), 1)
    bar_w = group_w * 0.8 / len(SERIES)
    for g, group in enumerate(stats):
        x0 = LEFT + g * group_w + group_w * 0.1
        for b, (name, colour, spread, which) in enumerate(SERIES):
            value = _value(group, spread, which)
            if value is None:
                continue
            h = plot_h * (value / size) / top
            x, y = x0 + b * bar_w, TOP + plot_h - h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>Severity {int(group.severity)}, {escape(name)}: '
                f"{humanize(value)}</title></rect>"
            )
        caption = f"Severity {int(group.severity)} ({group.incidents})"
        if group.to_stabilize.count == 0 and group.to_resolve.count == 0:
            caption += ": no data"
        out.append(
            f'<text x="{x0 + group_w * 0.4:.1f}" y="{HEIGHT - BOTTOM + 18}" '
            f'text-anchor="middle">{escape(caption)}</text>'
        )
    for i, (name, colour, _, _) in enumerate(SERIES):
        x = LEFT + i * 170
        out.append(
            f'<rect x="{x}" y="12" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 18}" y="22">{escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
