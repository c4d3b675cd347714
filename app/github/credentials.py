"""The App's credentials for githubkit: JWTs signed on GitHub's clock, tokens we can drop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from githubkit import GitHubCore
from githubkit.auth import BaseAuthStrategy
from githubkit.auth.app import AppAuth
from githubkit.cache import MemCacheStrategy
from githubkit.cache.mem_cache import MemCache
from githubkit.utils import UNSET

# GitHub asks for an `iat` 60 s in the past (clock drift) and an `exp` at most 10 min ahead.
JWT_BACKDATE = timedelta(seconds=60)
JWT_LIFETIME = timedelta(minutes=9)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ClockedAppAuth(AppAuth):
    """githubkit's App auth flow, signing its JWT on GitHub's clock as far as we know it."""

    clock: Callable[[], datetime] = _utc_now

    def _create_jwt(self) -> str:
        now = self.clock()
        claims = {"iss": self.issuer, "iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME}
        return jwt.encode(claims, self.private_key, algorithm="RS256")


@dataclass
class AppCredentials(BaseAuthStrategy):
    """The App's key for one client: as the App itself (JWT), or as one installation."""

    app_id: int
    private_key: str = field(repr=False)
    clock: Callable[[], datetime]
    installation_id: int | None = None

    def get_auth_flow(self, github: GitHubCore[Any]) -> httpx.Auth:
        return ClockedAppAuth(
            github,
            self.app_id,
            self.private_key,
            installation_id=UNSET if self.installation_id is None else self.installation_id,
            clock=self.clock,
        )


class TokenCache(MemCacheStrategy):
    """githubkit's in-memory cache of the JWT and installation tokens, which we can empty."""

    def __init__(self) -> None:
        super().__init__()
        self._tokens = MemCache()

    def get_cache_storage(self) -> MemCache:
        return self._tokens

    async def get_async_cache_storage(self) -> MemCache:
        return self._tokens

    def forget(self) -> None:
        """Drop every cached credential: the next call signs a new JWT and fetches a token."""
        self._tokens = MemCache()
