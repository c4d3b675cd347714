"""The fake GitHub's records: repositories, issues, comments, injected faults and calls."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

APP_SLUG = "incident-flow"
BOT_LOGIN = f"{APP_SLUG}[bot]"
STATUS_MARKER = "<!-- incident-flow:status -->"


def new_private_key() -> str:
    """A fresh RSA key in PEM, as GitHub issues one to an App."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeIssue:
    id: int
    number: int
    title: str
    body: str
    user: str
    created_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    assignees: list[str] = field(default_factory=list)
    sub_issues: list[int] = field(default_factory=list)  # issue ids
    parent: int | None = None  # issue id
    via_app: bool = False


@dataclass
class FakeComment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime
    via_app: bool = False


@dataclass
class FakeRepo:
    id: int
    full_name: str
    private: bool = False
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, FakeIssue] = field(default_factory=dict)
    comments: dict[int, FakeComment] = field(default_factory=dict)
    # login -> role_name; anyone else has read. Alice, every helper's default actor, is a
    # maintainer: the incidents she opens are declared, not reported.
    permissions: dict[str, str] = field(default_factory=lambda: {"alice": "maintain"})
    files: dict[str, str] = field(default_factory=dict)

    @property
    def payload(self) -> dict[str, Any]:
        owner = self.full_name.split("/")[0]
        return {
            "id": self.id,
            "name": self.full_name.split("/")[1],
            "full_name": self.full_name,
            "private": self.private,
            "owner": {"login": owner, "id": 1, "type": "Organization"},
            "html_url": f"https://github.com/{self.full_name}",
        }


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    times: int
    body: dict[str, Any]
    after: bool = False  # GitHub did the work, then the answer was lost (a 502 after commit)


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: Any = None
    at: float = field(default_factory=time.monotonic)  # when the call arrived

    @property
    def is_write(self) -> bool:
        return self.method != "GET" and "access_tokens" not in self.path
