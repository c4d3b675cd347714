"""Whether the App is installed on a repository, and its installation and id: asked of
GitHub, remembered for a while (an alert receiver asks for every notification)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from app.github.client import GitHubApp, GitHubRefused

# An owner/name GitHub could have: anything else is not asked about.
REPO_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
KNOWN_FOR = 600.0  # seconds an installation is trusted before it is asked again
MISSING_FOR = 60.0  # and a repository without one
MOST_KNOWN = 10_000  # repositories remembered at once (the names come from requests)


@dataclass(frozen=True)
class Installed:
    installation_id: int
    repo_id: int
    full_name: str  # as GitHub spells it


class RepoInstallations:
    def __init__(self, github: GitHubApp) -> None:
        self.github = github
        self._known: dict[str, tuple[float, Installed | None]] = {}

    async def find(self, repo: str) -> Installed | None:
        """The App's installation on `repo` (owner/name), None when it has none."""
        if not REPO_NAME.match(repo) or repo.endswith((".", "/.")) or "/.." in repo:
            return None
        key = repo.casefold()
        known = self._known.get(key)
        now = time.monotonic()
        if known is not None and known[0] > now:
            return known[1]
        try:
            found = await self.github.app_client().request("GET", f"/repos/{repo}/installation")
            installation = int(found["id"])
            data = await self.github.installation(installation).request("GET", f"/repos/{repo}")
        except GitHubRefused as exc:
            if exc.status not in (403, 404):
                raise
            self._remember(key, now + MISSING_FOR, None)
            return None
        installed = Installed(installation, int(data["id"]), str(data["full_name"]))
        self._remember(key, now + KNOWN_FOR, installed)
        return installed

    def _remember(self, key: str, until: float, installed: Installed | None) -> None:
        if len(self._known) >= MOST_KNOWN:
            self._known.clear()
        self._known[key] = (until, installed)
