"""The hidden marker that makes the bot's comments and issues findable again: one format."""

from __future__ import annotations

import re

MARKER_PREFIX = "<!-- incident-flow:"


def marker(key: str) -> str:
    """The hidden line that makes a comment findable again: one comment per key."""
    return f"{MARKER_PREFIX}{key} -->"


def marker_pattern(key: str) -> re.Pattern[str]:
    """The markers whose key matches the regular expression `key` (bounded by the caller)."""
    return re.compile(re.escape(MARKER_PREFIX) + key + re.escape(" -->"))
