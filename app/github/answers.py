"""Reading GitHub's answers: its two kinds of failure, its clock, rate limits, the next page."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from githubkit.exception import RequestError, RequestFailed

from app.queue.errors import Refused, Unavailable


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


def http_failure(exc: RequestError[Any]) -> RequestFailed | None:
    """The HTTP error answer in `exc`: githubkit wraps one met while fetching a token."""
    inner = exc if isinstance(exc, RequestFailed) else exc.exc
    return inner if isinstance(inner, RequestFailed) else None
