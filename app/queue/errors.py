"""The failures the worker tells apart; the GitHub client's errors subclass them."""

from __future__ import annotations

from datetime import datetime


class Unavailable(Exception):
    """A transient failure (an outage, a rate limit): try the delivery again at `retry_at`."""

    def __init__(
        self, message: str, retry_at: datetime | None = None, *, rate_limited: bool = False
    ):
        super().__init__(message)
        self.retry_at = retry_at
        self.rate_limited = rate_limited


class Refused(Exception):
    """A definite refusal, with an HTTP status: a 4xx other than a retryable one is for good."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
