"""Where the repo config comes from: GitHub's copy of the file, cached per repo with its ETag."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from app.domain.config import CONFIG_PATH, LoadedConfig, in_force, keep_last_good
from app.domain.config_file import parse_config
from app.domain.labels import LabelScheme
from app.github.client import Client, GitHubRefused, GitHubUnavailable

log = logging.getLogger(__name__)


class ConfigSource(Protocol):
    """The config in force for a repo: one look per decision."""

    async def get(self, client: Client, repo: str) -> LoadedConfig: ...
    def invalidate(self, repo: str) -> None: ...


@dataclass
class _Cached:
    loaded: LoadedConfig
    etag: str | None
    checked: float  # monotonic time of the last look at GitHub
    repo: str = ""  # as GitHub spells it


class KeepsLastGood(Protocol):
    """Where the last valid file of each repo outlives this process (app/storage/last_good.py)."""

    async def load(self, repo: str) -> tuple[str, str] | None: ...
    async def save(self, repo: str, version: str, text: str) -> None: ...
    async def forget(self, repo: str) -> None: ...


@dataclass
class ConfigCache:
    """One config per repo, re-checked with its ETag after `ttl` seconds or a push."""

    ttl: float = 300.0
    clock: Callable[[], float] = time.monotonic
    keeper: KeepsLastGood | None = None
    _entries: dict[str, _Cached] = field(default_factory=dict)

    async def get(self, client: Client, repo: str) -> LoadedConfig:
        key = repo.casefold()
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now - entry.checked < self.ttl:
            return entry.loaded
        refused = False
        try:
            response = await client.request(
                "GET",
                f"/repos/{repo}/contents/{CONFIG_PATH}",
                headers={"If-None-Match": entry.etag} if entry and entry.etag else None,
                ok_statuses=(404,),
                want_response=True,
            )
        except GitHubRefused as exc:
            # No `contents: read` on this installation (granted later by its owner): defaults.
            log.warning("cannot read %s in %s: %s", CONFIG_PATH, repo, exc, extra={"repo": repo})
            response, refused = None, True
        except GitHubUnavailable:
            if entry is None:
                raise
            # GitHub is down or rate limited: the last good answer beats failing the delivery.
            log.warning("using the cached %s of %s: GitHub unavailable", CONFIG_PATH, repo)
            return entry.loaded
        if response is None:  # absent: the defaults
            loaded, etag = LoadedConfig(), None
            gone = not refused and (entry is None or entry.loaded.found)
            if gone and self.keeper is not None:
                await self.keeper.forget(repo)  # the defaults are the last good config now
        elif response.status_code == 304 and entry is not None:  # unchanged, and free
            loaded, etag = entry.loaded, entry.etag
        else:
            etag = response.headers.get("etag")
            content = response.json()
            loaded = _load(content, etag)
            if loaded.valid and self.keeper is not None:
                await self.keeper.save(repo, (loaded.version or "")[:64], _text(content))
            elif loaded.errors:
                previous = entry.loaded if entry is not None else await self._kept(repo)
                loaded = keep_last_good(loaded, previous)
                log.warning(
                    "invalid %s in %s, using %s: %s",
                    CONFIG_PATH,
                    repo,
                    in_force(loaded),
                    "; ".join(map(str, loaded.errors)),
                    extra={"repo": repo},
                )
        self._entries[key] = _Cached(loaded, etag, now, repo)
        return loaded

    async def _kept(self, repo: str) -> LoadedConfig | None:
        """The last valid version an earlier run (or another instance) saw."""
        kept = await self.keeper.load(repo) if self.keeper is not None else None
        if kept is None:
            return None
        config, errors = parse_config(kept[1])
        return None if errors else LoadedConfig(config, True, kept[0])

    def invalid(self) -> dict[str, LoadedConfig]:
        """Repos whose current config file is invalid, by name: what the dashboard notes."""
        return {e.repo: e.loaded for e in self._entries.values() if not e.loaded.valid}

    def known_scheme(self, repo: str) -> LabelScheme | None:
        """The repo's label scheme as last read, without a call; None when never read, due
        for a look (another instance may have seen a push), or changed by a push since:
        app/service/triage.py then decides nothing of the repo at receipt."""
        entry = self._entries.get(repo.casefold())
        if entry is None or self.clock() - entry.checked >= self.ttl:
            return None
        return entry.loaded.config.scheme

    def invalidate(self, repo: str) -> None:
        """A push changed the file: look again (with the ETag) at the next use."""
        entry = self._entries.get(repo.casefold())
        if entry is not None:
            self._entries[repo.casefold()] = replace(entry, checked=float("-inf"))


def _text(content: dict[str, Any]) -> str:
    raw = content.get("content") or ""
    return base64.b64decode(raw).decode("utf-8", errors="replace") if raw else ""


def _load(content: dict[str, Any], etag: str | None) -> LoadedConfig:
    config, errors = parse_config(_text(content))
    return LoadedConfig(config, True, str(content.get("sha") or etag or ""), errors)
