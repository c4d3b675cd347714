"""One home per concept: durations, markers, the bot check, closed statuses; a pure core."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import app.domain.lifecycle
import app.domain.stats
from app.domain.command_flow import HELP_MARK
from app.domain.config import parse_duration
from app.domain.durations import format_duration
from app.domain.payloads import RETRO_MARKER, User, is_bot
from app.domain.plan import marker
from app.domain.stats import humanize
from app.github.redeliver import parse_since


def test_one_duration_parser_reads_what_config_and_cli_accept() -> None:
    for text in ("30m", "1h30m", "48h", "7d", "2w", "1d 12h"):
        assert parse_since(text) == parse_duration(text)
    assert parse_since("1.5") == timedelta(hours=1.5)  # the CLI's bare number is hours


def test_one_duration_formatter_for_comments_and_pages() -> None:
    span = timedelta(hours=3, minutes=2, seconds=5)
    assert format_duration(span) == "3h 02m"
    assert humanize(span) == format_duration(span, seconds=True) == "3h 2m"


def test_one_marker_format() -> None:
    assert marker("help-given") == HELP_MARK
    match = RETRO_MARKER.search(f"body\n\n{marker('retro:12')}")
    assert match is not None and match.group(1) == "12"


def test_one_bot_check() -> None:
    assert User(login="incident-flow[bot]", type="Bot").is_bot
    assert is_bot("dependabot[bot]") and not is_bot("alice", "User")


def test_closed_statuses_live_in_the_lifecycle() -> None:
    assert app.domain.stats.CLOSED is app.domain.lifecycle.CLOSED


def test_the_core_imports_no_github_client() -> None:
    pure = ", ".join(
        f"app.domain.{m}" for m in ("decision", "config", "leads", "retrospectives", "followup")
    )
    code = (
        f"import sys, {pure}\n"
        "io = ('app.github.client', 'githubkit', 'httpx', 'sqlalchemy')\n"
        "bad = [m for m in io if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", out.stdout
