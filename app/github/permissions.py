"""Who may change an incident: triage or higher on the repository, asked of GitHub, cached."""

from __future__ import annotations

import time
from typing import Any

from app.github.client import Client, GitHubRefused

# role_name values at or above triage; a custom role carries its base in user.permissions.
TRIAGE_OR_HIGHER = frozenset({"triage", "write", "maintain", "admin"})


def may_triage(answer: dict[str, Any]) -> bool:
    """Read GitHub's permission answer; never `author_association`, which misreports members."""
    if str(answer.get("role_name") or "").lower() in TRIAGE_OR_HIGHER:
        return True
    permissions = (answer.get("user") or {}).get("permissions") or {}
    return any(bool(permissions.get(key)) for key in ("triage", "push", "maintain", "admin"))


class PermissionCache:
    """Caches each answer briefly: a revoked permission takes effect within `ttl` seconds."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._answers: dict[tuple[str, str], tuple[float, bool]] = {}

    async def may_triage(self, client: Client, repo: str, login: str) -> bool:
        key = (repo.lower(), login.lower())
        cached = self._answers.get(key)
        now = time.monotonic()
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        try:
            answer = await client.request("GET", f"/repos/{repo}/collaborators/{login}/permission")
            allowed = may_triage(answer or {})
        except GitHubRefused as exc:
            if exc.status not in (403, 404):
                raise
            allowed = False  # not a collaborator at all
        self._answers[key] = (now, allowed)
        return allowed
