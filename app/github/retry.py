"""One REST call under the retry policy: rate-limit holds, back-off, credentials signed again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from githubkit import GitHub
from githubkit.exception import GitHubException, RequestError, RequestFailed

from app.github.answers import (
    GitHubRefused,
    GitHubUnavailable,
    http_failure,
    next_cursor,
    rate_limit_wait,
)

if TYPE_CHECKING:
    from app.github.client import GitHubApp

log = logging.getLogger("app.github.client")  # the logger its lines always had


class RetryingClient:
    """An installation's calls, each retried by one policy; the endpoints are the Client's."""

    def __init__(self, gh: GitHub[Any], app: GitHubApp) -> None:
        self.gh = gh
        self.app = app
        # GitHub asks integrators to send one installation's mutations one at a time
        # (secondary rate limits); reads may run in parallel.
        self._writes = asyncio.Lock()
        # A rate limit holds every call of this installation, not just the one that hit it:
        # other deliveries must not keep knocking while GitHub asked us to wait.
        self.held_until = 0.0

    async def _wait_for_hold(self, method: str, path: str) -> None:
        wait = self.held_until - time.time()
        if wait <= 0:
            return
        if wait > self.app.max_inline_wait:
            raise GitHubUnavailable(
                f"rate limited; holding {method} {path}",
                datetime.now(UTC) + timedelta(seconds=wait),
                rate_limited=True,
            )
        await asyncio.sleep(wait)

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call under the retry policy; mutations for this installation in series."""
        if method == "GET":
            return await self._request(method, path, **kwargs)
        async with self._writes:
            return await self._request(method, path, **kwargs)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        ok_statuses: tuple[int, ...] = (),
        max_tries: int = 4,
        before_retry: Callable[[], Any] | None = None,
        want_response: bool = False,
    ) -> Any:
        """One REST call; 5xx, timeouts and short rate limits retried in place with back-off.

        `want_response` returns the httpx response itself (for headers, or a conditional
        GET's 304).
        """
        delay = 0.5
        for attempt in range(1, max_tries + 1):
            last = attempt == max_tries
            await self._wait_for_hold(method, path)
            try:
                response = await self._send(method, path, json=json, params=params, headers=headers)
            except RequestFailed as exc:
                raw = exc.response.raw_response
                if raw.status_code in ok_statuses:
                    return None
                wait = rate_limit_wait(raw)
                if wait is not None:
                    self.held_until = max(self.held_until, time.time() + wait)
                    if wait > self.app.max_inline_wait or last:
                        raise GitHubUnavailable(
                            f"rate limited on {method} {path}",
                            datetime.now(UTC) + timedelta(seconds=wait),
                            rate_limited=True,
                        ) from exc
                    log.warning("rate limited on %s %s; waiting %.1fs", method, path, wait)
                    await asyncio.sleep(wait)
                    continue
                if raw.status_code < 500:
                    raise GitHubRefused(
                        raw.status_code, f"{method} {path}: {raw.text[:300]}"
                    ) from exc
                failure = f"{raw.status_code} on {method} {path}"
            except RequestError as exc:  # timeouts and connection errors
                failure = f"{type(exc).__name__} on {method} {path}"
            except GitHubException as exc:
                raise GitHubUnavailable(f"{type(exc).__name__} on {method} {path}: {exc}") from exc
            else:
                if want_response:
                    return response.raw_response
                if response.status_code == 204 or not response.content:
                    return None
                return response.json()
            # A 5xx or a lost connection: the call may have landed. Wait, look, then retry.
            if last:
                raise GitHubUnavailable(failure)
            await asyncio.sleep(delay)
            delay = min(delay * 4, self.app.max_inline_wait)
            if before_retry is not None and (found := await before_retry()) is not None:
                return found
        raise AssertionError("unreachable")

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; a 401 (an expired token, a skewed clock) is retried once, freshly signed.

        GitHub did nothing with a refused request, so sending it again is safe; a second
        401 is GitHub's final word.
        """
        for attempt in (1, 2):
            try:
                return await self.gh.arequest(method, path, **kwargs)
            except RequestError as exc:
                failed = http_failure(exc)
                if failed is None:
                    raise
                if failed.response.status_code != 401 or attempt == 2:
                    if failed is exc:
                        raise
                    raise failed from None  # the token call's own answer, unwrapped
                self.app.credentials_refused(failed.response.raw_response)
                log.warning("GitHub refused our credentials on %s %s; signing again", method, path)
        raise AssertionError("unreachable")

    async def cursor_pages(self, path: str, **params: Any) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of a cursor-paginated list (e.g. `/app/hook/deliveries`), following Link."""
        query: dict[str, Any] = {**params, "per_page": 100}
        while True:
            response = await self._request("GET", path, params=query, want_response=True)
            batch = response.json() if response.content else []
            yield list(batch or [])
            cursor = next_cursor(response.headers.get("link", ""))
            if not batch or cursor is None:
                return
            query = {**query, "cursor": cursor}

    async def paginate(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list endpoint, 100 a page."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = await self.request(
                "GET", path, params={**params, "per_page": 100, "page": page}
            )
            items.extend(batch or [])
            if not batch or len(batch) < 100:
                return items
            page += 1
