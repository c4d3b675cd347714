"""The App's credentials in the env file, written so that Docker and dotenv read them alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

ENV_KEYS = ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")


def env_values(app: dict[str, Any]) -> dict[str, str]:
    """The settings GitHub's manifest conversion hands us, under our variable names."""
    return {
        "APP_ID": str(app["id"]),
        # On one line with literal "\n" (Settings unescapes them): `docker run --env-file`
        # reads one line per variable and takes the value verbatim.
        "PRIVATE_KEY": str(app["pem"]).replace("\n", "\\n"),
        "WEBHOOK_SECRET": str(app["webhook_secret"]),
        "GITHUB_CLIENT_ID": str(app["client_id"]),
        "GITHUB_CLIENT_SECRET": str(app["client_secret"]),
    }


def existing_keys(path: Path) -> list[str]:
    """Which of our keys already have a value in the env file."""
    if not path.exists():
        return []
    current = dotenv_values(path)
    return [key for key in ENV_KEYS if current.get(key)]


# What `docker run --env-file` and python-dotenv (pydantic-settings) both read verbatim when
# written unquoted: one line, no quote first (dotenv would unquote it), no edge blanks and no
# " #" (dotenv strips them; Docker keeps them).
_PLAIN = re.compile(r"[^\s'\"](?:[^\r\n]*[^\s])?")


def quoted(value: str) -> str:
    """The value as written after `KEY=`: plain whenever both readers agree on it."""
    if value == "" or (_PLAIN.fullmatch(value) and not re.search(r"\s#", value)):
        return value
    # Never the case for GitHub's values; the service still reads this, Docker would not.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_env(path: Path, values: dict[str, str]) -> None:
    """Set `values` in the env file, replacing earlier lines for the same keys only."""
    text = path.read_text() if path.exists() else ""
    for key in values:
        # One assignment, a double-quoted value possibly spanning lines, or the rest of a line.
        pattern = rf'^(?:export\s+)?{key}\s*=\s*(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\n]*)\n?'
        text = re.sub(pattern, "", text, flags=re.MULTILINE)
    if text and not text.endswith("\n"):
        text += "\n"
    text += "".join(f"{key}={quoted(value)}\n" for key, value in values.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)  # it holds the App's private key
