"""The `.env` the set-up page writes reads the same to `docker run --env-file` and the service."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sandbox.github import new_private_key
from app.settings import Settings
from app.web.env_file import env_values, write_env

KEYS = ("app_id", "private_key", "webhook_secret", "github_client_id", "github_client_secret")


def docker_env_file(text: str) -> dict[str, str]:
    """What `docker run --env-file` passes (docker/cli opts/envfile.go): blank lines and
    `#` lines skipped, leading blanks trimmed, KEY=VALUE split at the first `=`, the value
    verbatim: no quote or escape processing."""
    env: dict[str, str] = {}
    for raw in text.split("\n"):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert key == key.strip(), f"docker refuses a variable name with blanks: {key!r}"
        env[key] = value
    return env


def from_environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def settings_values(settings: Settings) -> tuple[object, ...]:
    return tuple(getattr(settings, key) for key in KEYS)


def test_docker_and_the_service_read_the_written_file_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = new_private_key()
    app = {
        "id": 4242,
        "pem": pem,
        "webhook_secret": "a1b2c3",
        "client_id": "Iv1.0123abcd",
        "client_secret": "s3cr3t",
    }
    path = tmp_path / ".env"
    path.write_text("# mine\nPORT=4000\n")
    write_env(path, env_values(app))
    text = path.read_text()
    assert len(text.splitlines()) == 2 + 5  # one line per variable: the key is escaped
    docker = docker_env_file(text)
    assert docker["APP_ID"] == "4242"
    by_docker = from_environment(docker, monkeypatch)
    by_dotenv = Settings(_env_file=path)  # type: ignore[call-arg]
    assert settings_values(by_docker) == settings_values(by_dotenv)
    assert settings_values(by_docker) == (4242, pem, "a1b2c3", "Iv1.0123abcd", "s3cr3t")
    assert by_docker.port == by_dotenv.port == 4000


@pytest.mark.parametrize(
    "value",
    ["plain", "with spaces inside", "a#b", "ends with blank ", "'single'", "x #comment", "a\nb"],
)
def test_values_only_the_service_reads_alike_are_quoted(tmp_path: Path, value: str) -> None:
    path = tmp_path / ".env"
    write_env(path, {"WEBHOOK_SECRET": value})
    assert Settings(_env_file=path).webhook_secret == value  # type: ignore[call-arg]
    written = docker_env_file(path.read_text())["WEBHOOK_SECRET"]
    assert written == value or written.startswith('"')


def test_an_env_file_of_earlier_versions_still_works_with_docker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Earlier set-up pages wrote `APP_ID="4242"`; Docker passes the quotes on."""
    pem = new_private_key()
    escaped = pem.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    old = f'APP_ID="4242"\nPRIVATE_KEY="{escaped}"\nWEBHOOK_SECRET="a\\"b"\n'
    settings = from_environment(docker_env_file(old), monkeypatch)
    assert (settings.app_id, settings.private_key, settings.webhook_secret) == (4242, pem, 'a"b')
