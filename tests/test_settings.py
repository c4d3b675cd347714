"""Settings: Probot's variable names, PEM escapes, database URLs."""

from pathlib import Path

import pytest

from app.settings import Settings


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults() -> None:
    settings = make()
    assert settings.webhook_path == "/api/github/webhooks"
    assert settings.github_api_url == "https://api.github.com"
    assert settings.async_database_url == "sqlite+aiosqlite:///./data/incident-flow.db"


def test_private_key_with_literal_newline_escapes() -> None:
    settings = make(private_key="-----BEGIN KEY-----\\nabc\\n-----END KEY-----")
    assert settings.app_private_key() == "-----BEGIN KEY-----\nabc\n-----END KEY-----"


def test_private_key_from_a_file(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text("PEM")
    assert make(private_key_path=pem).app_private_key() == "PEM"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("postgresql://postgres@127.0.0.1/test", "postgresql+asyncpg://postgres@127.0.0.1/test"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls(url: str, expected: str) -> None:
    assert make(database_url=url).async_database_url == expected


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ID", "42")
    monkeypatch.setenv("WEBHOOK_SECRET", "s")
    monkeypatch.setenv("PORT", "8080")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.app_id, settings.webhook_secret, settings.port) == (42, "s", 8080)
