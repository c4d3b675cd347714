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


def test_a_project_others_can_adopt() -> None:
    assert Path("LICENSE").read_text().startswith("MIT License")
    changelog = Path("CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "## [0.1.0]" in changelog
    assert "keepachangelog.com" in changelog
    workflow = Path(".github/workflows/test.yml").read_text()
    assert "make test" in workflow and "postgres" in workflow
    assert "make test" in Path(".ci/run").read_text()


def test_dockerfile_pins_the_base_image_and_uv() -> None:
    images = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert len(images) >= 2
    for image in images:
        # python:3.11.N-..., never a moving tag such as python:3.11-slim.
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    pinned = re.search(r"pip install [^\n]*\buv==(\d+\.\d+\.\d+)", DOCKERFILE)
    assert pinned, "uv is not pinned in the Dockerfile"
    assert f"uv=={pinned.group(1)}" in Path("Makefile").read_text()  # one uv for both


def test_dockerignore_keeps_secrets_and_state_out_of_the_build() -> None:
    ignored = set(Path(".dockerignore").read_text().split())
    for entry in (".env", ".venv/", "data/", ".git/", "test-artifacts/", "*.pem"):
        assert entry in ignored, entry
    assert {".mypy_cache/", ".ruff_cache/", ".pytest_cache/", "__pycache__/"} <= ignored
    copied = " ".join(re.findall(r"^COPY\s+(?!--from)(.*)$", DOCKERFILE, flags=re.MULTILINE))
    assert ".env" not in copied and "data" not in copied


def test_env_example_lists_every_setting_unquoted() -> None:
    lines = Path(".env.example").read_text().splitlines()
    setting = re.compile(r"(?:# )?([A-Z][A-Z0-9_]*)=(.*)")
    assigned = {}
    for n, line in enumerate(lines):
        match = setting.fullmatch(line)
        if match is None:
            continue
        name, value = match.groups()
        assert not value.startswith(("'", '"')), f"{name} is quoted: docker keeps the quotes"
        before = lines[n - 1]
        assert before.startswith("# ") and not setting.fullmatch(before), f"{name}: no comment"
        assigned[name] = value
    assert set(assigned) == {name.upper() for name in Settings.model_fields}
    # The uncommented lines are the defaults: copying the file as .env changes nothing.
    example = Settings(_env_file=".env.example")  # type: ignore[call-arg]
    assert example.model_dump() == defaults().model_dump()


def make_rule(target: str) -> tuple[list[str], list[str]]:
    """A Makefile rule's prerequisites and recipe lines."""
    makefile = Path("Makefile").read_text().replace("$(VENV)", ".venv")
    found = re.search(rf"^{re.escape(target)}:(.*)\n((?:\t.*\n)*)", makefile, flags=re.MULTILINE)
    assert found, target
    return found[1].split(), [line.strip() for line in found[2].splitlines()]


def test_make_run_installs_runtime_dependencies_only() -> None:
    run_needs, _ = make_rule("run")
    test_needs, _ = make_rule("test")
    assert ".venv/.synced-run" in run_needs and ".venv/.synced-dev" not in run_needs
    assert ".venv/.synced-dev" in test_needs
    _, runtime = make_rule(".venv/.synced-run")
    (sync,) = [line for line in runtime if " sync " in line]
    # --inexact: `make run` after `make test` leaves the development tools in place.
    assert "--no-dev" in sync and "--inexact" in sync and "--all-groups" not in sync
    _, full = make_rule(".venv/.synced-dev")
    (sync,) = [line for line in full if " sync " in line]
    assert "--all-groups" in sync and "--frozen" in sync
