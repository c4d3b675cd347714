"""Durations and moments as people write and read them: one parser, one formatter each."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# One `N unit` part: anchored by `match` at a position, so a whole text is read in one pass.
_PART = re.compile(r"\s*(\d{1,9}(?:\.\d{1,9})?)\s*([wdhms])")
_BARE = re.compile(r"\s*(\d{1,9}(?:\.\d{1,9})?)\s*$")
SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str, *, bare: str | None = None) -> timedelta:
    """`30m`, `1h30m`, `48h`, `7d`, `2w`, `90s`, `1.5h`: a positive duration.

    `bare`: the unit of a number written alone (`6` with bare="h" is six hours); without it
    a bare number is refused, since `7` in a config file could mean anything.
    """
    if bare is not None and (alone := _BARE.match(text)):
        total = float(alone.group(1)) * SECONDS[bare]
    else:
        total, at = 0.0, 0
        while at < len(text) and (part := _PART.match(text, at)):
            total += float(part.group(1)) * SECONDS[part.group(2)]
            at = part.end()
        if at == 0 or text[at:].strip():
            raise ValueError("a duration like 30m, 1h, 48h, 7d or 2w")
    if total <= 0:
        raise ValueError("a duration longer than zero")
    return timedelta(seconds=total)


def format_duration(span: timedelta, *, seconds: bool = False) -> str:
    """`2d 3h`, `1h 05m`, `12m`, and `<1m` under a minute (comments: what a reader needs).

    `seconds` (dashboard and CLI): `3h 2m`, `40s`.
    """
    total = max(0, int(span.total_seconds()))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m" if seconds else f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s" if seconds else "<1m"


def format_time(moment: datetime) -> str:
    """A moment as the bot writes it: UTC, to the minute."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
