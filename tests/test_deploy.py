"""Deploy files agree with the app: fly.toml's port and health check, the Dockerfile's command."""

import ipaddress
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from app.main import create_app
from app.settings import Settings

FLY = tomllib.loads(Path("fly.toml").read_text())
DOCKERFILE = Path("Dockerfile").read_text()


def docker_instruction(name: str) -> str:
    """The last instruction `name`, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.*)$", text, flags=re.MULTILINE)
    assert found, f"no {name} in the Dockerfile"
    return str(found[-1])


def defaults() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def routes() -> set[str]:
    app = create_app(defaults(), start_worker=False)
    return {route.path for route in app.routes if isinstance(route, APIRoute)}


def test_fly_port_matches_the_settings() -> None:
    port = FLY["http_service"]["internal_port"]
    assert port == defaults().port
    assert FLY["env"]["PORT"] == str(port)
    assert f"PORT={port}" in docker_instruction("ENV")
    assert docker_instruction("EXPOSE").strip() == str(port)


def test_fly_health_check_is_the_apps_health_route() -> None:
    (check,) = FLY["http_service"]["checks"]
    assert check["method"] == "GET"
    assert check["path"] in routes()
    assert check["path"] == "/healthz"
    assert "/healthz" in docker_instruction("HEALTHCHECK")


def test_sqlite_lives_on_the_mounted_volume() -> None:
    mount = FLY["mounts"]["destination"]
    database = Settings(_env_file=None, database_url=FLY["env"]["DATABASE_URL"])  # type: ignore[call-arg]
    assert database.database_url.removeprefix("sqlite:///").startswith(mount + "/")
    assert f'VOLUME ["{mount}"]' in DOCKERFILE
    assert f"DATABASE_URL={FLY['env']['DATABASE_URL']}" in docker_instruction("ENV")


def test_dockerfile_command_starts_the_same_asgi_app() -> None:
    command = json.loads(docker_instruction("CMD"))  # the exec form is a JSON array
    words = shlex.split(command[2]) if command[:2] == ["sh", "-c"] else command
    assert words[:2] == ["exec", "uvicorn"]
    target = words[2]
    module, attribute = target.split(":")
    assert (module, attribute) == ("app.main", "app")
    import app.main

    assert getattr(app.main, attribute).title == "Incident Flow"
    assert words[words.index("--port") + 1] == "${PORT}"


def test_image_is_built_from_the_lock_and_runs_unprivileged() -> None:
    assert DOCKERFILE.count("FROM ") >= 2  # multi-stage
    assert "uv sync --frozen --no-dev" in DOCKERFILE
    user = docker_instruction("USER").strip()
    assert user not in ("root", "0")
    assert f"useradd --create-home --uid 10001 {user}" in DOCKERFILE


def dockerfile_command() -> list[str]:
    command = json.loads(docker_instruction("CMD"))
    return shlex.split(command[2]) if command[:2] == ["sh", "-c"] else list(command)


def trusted_proxies(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item.strip()) for item in value.split(",")]


def test_forwarded_headers_are_believed_only_from_configured_proxies() -> None:
    words = dockerfile_command()
    assert "--proxy-headers" in words
    # The flag, when given, passes the variable on; "*" would let any client claim https.
    if "--forwarded-allow-ips" in words:
        assert words[words.index("--forwarded-allow-ips") + 1] == "${FORWARDED_ALLOW_IPS}"
    assert "*" not in " ".join(words)
    image_default = re.search(r"FORWARDED_ALLOW_IPS=(\S+)", docker_instruction("ENV"))
    assert image_default is not None
    assert all(net.is_loopback for net in trusted_proxies(image_default.group(1)))
    assert all(net.is_loopback for net in trusted_proxies(defaults().forwarded_allow_ips))
    fly = trusted_proxies(FLY["env"]["FORWARDED_ALLOW_IPS"])
    assert fly and all(net.is_private for net in fly)


def test_serve_passes_the_trusted_proxies_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import cli

    seen: dict[str, Any] = {}
    settings = Settings(_env_file=None, forwarded_allow_ips="10.1.0.0/16")  # type: ignore[call-arg]
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    monkeypatch.setattr(cli.uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    cli.serve()
    assert seen["proxy_headers"] is True
    assert seen["forwarded_allow_ips"] == "10.1.0.0/16"


SECURITY = Path("SECURITY.md").read_text()


@pytest.mark.parametrize(
    "topic",
    [
        "Report a vulnerability",  # GitHub private vulnerability reporting
        "security advisory",
        "anyone on GitHub",
        "anyone who reaches the HTTP port",
        "operators",
        "200",  # the command-line cap
        "10 commands",
        "/help",
        "no echo",
        "404",
        "one-time token",
        "127.0.0.1",
        "incident:reported",
        "dead-lettered",
        "10 s",
        "unsigned bodies",
        "401",
        "iat",
        "escaped",
        "503",
        "METRICS_TOKEN",
        "Secure",
        "POST",
        "clock jump",
        "FORWARDED_ALLOW_IPS",
    ],
)
def test_security_md_covers(topic: str) -> None:
    assert topic.lower() in SECURITY.lower()


def test_security_md_is_linked_and_names_real_settings() -> None:
    assert "(SECURITY.md)" in Path("README.md").read_text()
    fields = set(Settings.model_fields)
    named = set(re.findall(r"`([A-Z][A-Z_]{3,})`", SECURITY))
    assert named and {name.lower() for name in named} <= fields, named
