"""The GitHub layer: App auth through githubkit, our own retry policy, a narrow client."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import jwt
from githubkit import GitHub, GitHubCore
from githubkit.auth import BaseAuthStrategy
from githubkit.auth.app import AppAuth
from githubkit.cache import MemCacheStrategy
from githubkit.cache.mem_cache import MemCache
from githubkit.exception import GitHubException, RequestError, RequestFailed
from githubkit.utils import UNSET

from app.domain.plan import marker
from app.queue.errors import Refused, Unavailable

log = logging.getLogger(__name__)


class GitHubUnavailable(Unavailable):
    """A transient failure (5xx, network, rate limit): try the delivery again at `retry_at`."""


class GitHubRefused(Refused):
    """GitHub answered a request with a definite error (4xx other than rate limits)."""


def response_time(response: httpx.Response) -> datetime | None:
    """GitHub's clock when it answered (the Date header); the earliest if a proxy added one."""
    times = []
    for value in response.headers.get_list("date"):
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            continue
        times.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return min(times, default=None)


def rate_limit_wait(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds GitHub asks us to wait, or None when the response is not a rate limit."""
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    if "retry-after" in headers:
        try:
            return max(0.0, float(headers["retry-after"]))
        except ValueError:
            return 60.0
    if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
        reset = float(headers["x-ratelimit-reset"])
        return max(0.0, reset - (now if now is not None else time.time())) + 1.0
    if response.status_code == 429 or "rate limit" in response.text.lower():
        return 60.0
    return None


def next_cursor(link: str) -> str | None:
    """The `cursor` of a Link header's rel="next" URL, if there is one."""
    for part in link.split(","):
        if 'rel="next"' in part:
            url = part.split(";")[0].strip().strip("<>")
            values = parse_qs(urlsplit(url).query).get("cursor")
            return values[0] if values else None
    return None


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


def http_failure(exc: RequestError[Any]) -> RequestFailed | None:
    """The HTTP error answer in `exc`: githubkit wraps one met while fetching a token."""
    inner = exc if isinstance(exc, RequestFailed) else exc.exc
    return inner if isinstance(inner, RequestFailed) else None


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


class Client:
    """The calls the app makes, each retried by one policy and safe to repeat."""

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

    # Issues -------------------------------------------------------------------------

    async def get_issue(self, repo: str, number: int) -> dict[str, Any]:
        data: dict[str, Any] = await self.request("GET", f"/repos/{repo}/issues/{number}")
        return data

    async def read_issue(self, repo: str, number: int) -> tuple[dict[str, Any], datetime | None]:
        """The issue, and GitHub's time of the read (its Date header) when it gave one."""
        response = await self.request("GET", f"/repos/{repo}/issues/{number}", want_response=True)
        data: dict[str, Any] = response.json()
        return data, response_time(response)

    async def add_labels(self, repo: str, number: int, names: list[str]) -> None:
        await self.request("POST", f"/repos/{repo}/issues/{number}/labels", json={"labels": names})

    async def remove_label(self, repo: str, number: int, name: str) -> None:
        # githubkit does not quote the name: "area/db ops" and emoji must be quoted here.
        path = f"/repos/{repo}/issues/{number}/labels/{quote(name, safe='')}"
        await self.request("DELETE", path, ok_statuses=(404,))

    async def update_issue(self, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self.request(
            "PATCH", f"/repos/{repo}/issues/{number}", json=fields
        )
        return data

    async def create_issue(self, repo: str, **fields: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self.request("POST", f"/repos/{repo}/issues", json=fields)
        return data

    async def change_assignees(
        self, repo: str, number: int, *, add: list[str], remove: list[str]
    ) -> None:
        # Adding and removing leave other assignees alone (a PATCH would replace them all).
        path = f"/repos/{repo}/issues/{number}/assignees"
        if remove:
            await self.request("DELETE", path, json={"assignees": remove})
        if add:
            await self.request("POST", path, json={"assignees": add})

    async def add_sub_issue(self, repo: str, parent: int, child_id: int) -> None:
        """Link an issue (by its id, not number) under `parent`; linking twice is fine."""
        try:
            await self.request(
                "POST", f"/repos/{repo}/issues/{parent}/sub_issues", json={"sub_issue_id": child_id}
            )
        except GitHubRefused as exc:
            if exc.status != 422:  # 422: already a sub-issue of it
                raise

    async def list_sub_issues(self, repo: str, parent: int) -> list[dict[str, Any]]:
        return await self.paginate(f"/repos/{repo}/issues/{parent}/sub_issues")

    async def find_issue(
        self, repo: str, key: str, *, label: str | None = None
    ) -> dict[str, Any] | None:
        """The issue the app opened with this key's marker, among the newest with `label`."""
        params: dict[str, Any] = {
            "state": "all",
            "sort": "created",
            "direction": "desc",
            "per_page": 100,
        }
        if label:
            params["labels"] = label
        tag = marker(key)
        for issue in await self.request("GET", f"/repos/{repo}/issues", params=params) or []:
            if tag in (issue.get("body") or ""):
                return dict(issue)
        return None

    # Comments -----------------------------------------------------------------------

    async def list_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return await self.paginate(f"/repos/{repo}/issues/{number}/comments")

    async def find_comment(self, repo: str, number: int, key: str) -> dict[str, Any] | None:
        tag = marker(key)
        for comment in await self.list_comments(repo, number):
            if tag in (comment.get("body") or ""):
                return comment
        return None

    async def post_comment(
        self, repo: str, number: int, key: str, body: str, *, check_first: bool = False
    ) -> dict[str, Any]:
        """Post a keyed comment once: a POST retried after a 5xx first looks for its marker."""
        if check_first:
            existing = await self.find_comment(repo, number, key)
            if existing is not None:
                return existing
        data: dict[str, Any] = await self.request(
            "POST",
            f"/repos/{repo}/issues/{number}/comments",
            json={"body": f"{body}\n\n{marker(key)}"},
            before_retry=lambda: self.find_comment(repo, number, key),
        )
        return data

    async def update_comment(self, repo: str, comment_id: int, body: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.request(
            "PATCH", f"/repos/{repo}/issues/comments/{comment_id}", json={"body": body}
        )
        return data
