"""Service settings, read from the environment and `.env` with Probot's names."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_id: int | None = None
    private_key: str | None = None
    private_key_path: Path | None = None
    webhook_secret: str | None = None
    webhook_path: str = "/api/github/webhooks"
    github_api_url: str = "https://api.github.com"
    database_url: str = "sqlite:///./data/incident-flow.db"
    port: int = 3000
    # Proxies whose X-Forwarded-For/-Proto `serve` believes (uvicorn's own variable): by
    # default a proxy on this machine only. Comma-separated addresses or networks.
    forwarded_allow_ips: str = "127.0.0.1,::1"
    log_level: str = "INFO"
    # json, text, or auto: text when the log goes to a terminal, JSON lines otherwise.
    log_format: str = "auto"

    # First run and the dashboard: where the service is reached, GitHub's web side (derived
    # from GITHUB_API_URL unless set, so GitHub Enterprise Server works), the App's OAuth
    # client for sign-in, and the key that signs session cookies.
    public_url: str | None = None
    # A webhook proxy channel (e.g. https://smee.io/<channel>, Probot's name): GitHub sends the
    # webhooks there and the service follows it, so a laptop needs no public address.
    webhook_proxy_url: str | None = None
    github_url: str | None = None
    github_client_id: str | None = None
    github_client_secret: str | None = None
    session_secret: str | None = None
    setup_env_file: Path = Path(".env")
    slack_webhook_url: str | None = None
    # The longest one chat call may take (Slack, a JSON webhook); it is never retried.
    notifier_timeout_seconds: float = 10.0
    # When set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`: its counts tell
    # that private repositories have incidents. Unset, it is open.
    metrics_token: str | None = None
    # The alert receiver (`POST /api/alerts/{owner}/{repo}`) answers only
    # `Authorization: Bearer <ALERTS_TOKEN>`; unset, it is off (404).
    alerts_token: str | None = None
    # Recovery of failed deliveries: how far back to look (GitHub keeps 3 days) and how often.
    redeliver_since_hours: float = 72.0
    redeliver_every_hours: float = 3.0
    # Finished deliveries (payloads included) are deleted after this many days, hourly; 0
    # keeps them. Never sooner than the redelivery window: a delivery still in GitHub's log
    # must still be known here, or it would be asked for again.
    delivery_retention_days: float = 30.0

    # Worker tuning: how long a label delivery waits before it is processed, so that the
    # separate labeled/unlabeled deliveries of one sidebar change land first.
    settle_seconds: float = 1.5
    worker_concurrency: int = 8
    poll_seconds: float = 0.5
    # A claim lasts this long unless its worker renews it; a killed instance's work is taken
    # up again after it runs out.
    lease_seconds: float = 60.0
    handler_timeout_seconds: float = 240.0
    max_attempts: int = 8
    # Longest wait the GitHub client sleeps in place; longer waits defer the delivery.
    max_inline_wait_seconds: float = 10.0
    max_body_bytes: int = 5 * 1024 * 1024
    # How long a repo's .github/incidents.yml is trusted before it is checked again (ETag).
    config_ttl_seconds: float = 300.0
    # How often the scheduler looks for incidents whose update is overdue.
    reminder_interval_seconds: float = 60.0

    @field_validator("delivery_retention_days")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be 0 (keep every delivery) or a number of days")
        return value

    @field_validator(
        "app_id",
        "private_key",
        "webhook_secret",
        "github_client_id",
        "github_client_secret",
        mode="before",
    )
    @classmethod
    def _unquote(cls, value: object) -> object:
        # `docker run --env-file` keeps quotes verbatim; earlier versions of the set-up page
        # wrote these values double-quoted (with \\ and \" escapes), so such a .env still works.
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
            return re.sub(r'\\([\\"])', r"\1", value[1:-1])
        return value

    @field_validator("private_key")
    @classmethod
    def _unescape_newlines(cls, value: str | None) -> str | None:
        # Platforms that cannot hold multi-line secrets pass the PEM with literal "\n".
        return value.replace("\\n", "\n") if value else value

    def app_private_key(self) -> str | None:
        if self.private_key:
            return self.private_key
        if self.private_key_path:
            return self.private_key_path.read_text()
        return None

    @property
    def reads_environment(self) -> bool:
        """The variables repo configs name (`chat`) are read from the environment and `.env`
        (the sandbox's settings, which read neither, say no)."""
        return True

    @property
    def configured(self) -> bool:
        """The App's credentials are present: webhooks are processed."""
        return bool(self.app_id and (self.private_key or self.private_key_path))

    @property
    def github_web_url(self) -> str:
        """GitHub's web root: github.com for api.github.com, the host for `/api/v3` (GHES)."""
        if self.github_url:
            return self.github_url.rstrip("/")
        parts = urlsplit(self.github_api_url.rstrip("/"))
        host = parts.netloc
        if not parts.path.endswith("/api/v3") and host.startswith("api."):
            host = host[len("api.") :]
        return f"{parts.scheme}://{host}"

    @property
    def async_database_url(self) -> str:
        """The SQLAlchemy async URL for `DATABASE_URL` (plain sqlite/postgresql accepted)."""
        url = self.database_url
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
