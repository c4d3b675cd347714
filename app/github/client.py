"""The GitHub layer: App auth through githubkit, our own retry policy, a narrow client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from githubkit import GitHub

from app.github.answers import (
    GitHubRefused,
    GitHubUnavailable,
    next_cursor,
    rate_limit_wait,
    response_time,
)
from app.github.calls import Client
from app.github.credentials import AppCredentials, TokenCache

# The GitHub layer's names, where the app and its tests import them from.
__all__ = [
    "Client",
    "GitHubApp",
    "GitHubRefused",
    "GitHubUnavailable",
    "next_cursor",
    "rate_limit_wait",
    "response_time",
]


class KeptOpen(httpx.AsyncBaseTransport):
    """One connection pool for the process: githubkit opens and closes a client per call.

    Without it every call built a new TLS context and connection (about 30 ms each).
    """

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        """githubkit closes its per-call client; the pool outlives it."""

    async def close(self) -> None:
        await self.transport.aclose()


class GitHubApp:
    """The App's credentials; hands out one cached client per installation."""

    def __init__(
        self,
        *,
        app_id: int,
        private_key: str,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        max_inline_wait: float = 10.0,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.app_id = app_id
        self.base_url = base_url
        self.max_inline_wait = max_inline_wait
        self._private_key = private_key
        self._transport = KeptOpen(transport or httpx.AsyncHTTPTransport())
        self._cache = TokenCache()
        # GitHub's clock minus ours, learnt from the Date of a refused credential.
        self.clock_offset = timedelta(0)
        self._clients: dict[int, Client] = {}
        self._slug: str | None = None
        self._on_response = on_response

    async def aclose(self) -> None:
        await self._transport.close()

    def _github(self, auth: Any) -> GitHub[Any]:
        hooks = {"response": [self._observe]} if self._on_response else None
        return GitHub(
            auth,
            base_url=self.base_url,
            async_transport=self._transport,
            cache_strategy=self._cache,
            http_cache=False,
            auto_retry=False,  # our own policy below: capped waits, idempotent effects
            timeout=20.0,
            async_event_hooks=hooks,
        )

    async def _observe(self, response: httpx.Response) -> None:
        if self._on_response:
            self._on_response(response)

    def github_now(self) -> datetime:
        """Our best guess at GitHub's clock, for the JWT's `iat` and `exp`."""
        return datetime.now(UTC) + self.clock_offset

    def credentials_refused(self, response: httpx.Response) -> None:
        """A 401: drop the cached JWT and tokens, and set our clock by GitHub's answer."""
        self._cache.forget()
        github_time = response_time(response)
        if github_time is not None:
            self.clock_offset = github_time - datetime.now(UTC)

    def _credentials(self, installation_id: int | None = None) -> AppCredentials:
        return AppCredentials(self.app_id, self._private_key, self.github_now, installation_id)

    def app_client(self) -> Client:
        """A client authenticated as the App itself (JWT), for `/app` routes."""
        return Client(self._github(self._credentials()), self)

    def installation(self, installation_id: int) -> Client:
        client = self._clients.get(installation_id)
        if client is None:
            client = Client(self._github(self._credentials(installation_id)), self)
            self._clients[installation_id] = client
        return client

    async def slug(self) -> str:
        if self._slug is None:
            data = await self.app_client().request("GET", "/app")
            self._slug = str(data["slug"])
        return self._slug

    async def bot_login(self) -> str:
        return f"{await self.slug()}[bot]"
