"""First run: the set-up page, GitHub's manifest conversion (the fake) and the `.env` file."""

import html
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from app.settings import Settings
from app.setup import build_manifest, write_env
from tests.conftest import Harness

UNCONFIGURED = {"app_id": None, "private_key": None, "webhook_secret": None}


@pytest.fixture
async def first_run(harness_for, tmp_path: Path) -> Harness:  # type: ignore[no-untyped-def]
    return await harness_for(setup_env_file=tmp_path / ".env", **UNCONFIGURED)


def form_of(page: str) -> tuple[str, dict[str, object]]:
    action = re.search(r'<form method=post action="([^"]+)"', page)
    manifest = re.search(r'name=manifest value="([^"]+)"', page)
    assert action and manifest, page
    return html.unescape(action.group(1)), json.loads(html.unescape(manifest.group(1)))


@pytest.mark.parametrize(
    ("api", "web"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("https://api.github.test", "https://github.test"),
    ],
)
def test_github_web_url_follows_the_api_url(api: str, web: str) -> None:
    assert Settings(_env_file=None, github_api_url=api).github_web_url == web  # type: ignore[call-arg]


def test_app_yml_is_the_manifest() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    shipped = yaml.safe_load(Path("app.yml").read_text())
    assert shipped == build_manifest(settings, "https://incidents.example.com/")


async def test_setup_page_posts_the_manifest_to_github(first_run: Harness) -> None:
    page = (await first_run.client.get("/")).text
    action, manifest = form_of(page)
    assert action.startswith("https://github.test/settings/apps/new?state=")
    assert manifest["hook_attributes"] == {
        "url": "http://app/api/github/webhooks",
        "active": True,
    }
    assert manifest["redirect_url"] == "http://app/setup/callback"
    assert "GitHub will send webhooks to <code>http://app/api/github/webhooks</code>" in page
    assert manifest["default_permissions"] == {
        "issues": "write",
        "metadata": "read",
        "contents": "read",
    }
    assert {"issues", "issue_comment", "sub_issues"} <= set(manifest["default_events"])  # type: ignore[arg-type]


async def test_organisation_form_and_public_url(harness_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    harness = await harness_for(
        setup_env_file=tmp_path / ".env",
        public_url="https://incidents.example.org",
        github_api_url="https://ghe.example.org/api/v3",
        **UNCONFIGURED,
    )
    page = (await harness.client.get("/", params={"org": "octo-org", "name": "Ops"})).text
    action, manifest = form_of(page)
    assert action.startswith("https://ghe.example.org/organizations/octo-org/settings/apps/new?")
    assert manifest["name"] == "Ops"
    assert manifest["url"] == "https://incidents.example.org"
    bad = (await harness.client.get("/", params={"org": "no/such org"})).text
    assert "is not an organisation name" in bad


async def test_callback_writes_env_and_settings_read_it(first_run: Harness) -> None:
    page = (await first_run.client.get("/")).text
    state = form_of(page)[0].split("state=")[1]
    code = first_run.fake.manifest_code(app_id=4242)
    app = dict(first_run.fake.manifests[code])
    answer = await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    assert answer.status_code == 200
    assert "Restart the service" in answer.text
    assert f"{app['html_url']}/installations/new" in answer.text
    env_file = first_run.services.settings.setup_env_file
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    written = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert written.app_id == 4242
    assert written.private_key == app["pem"]
    assert written.webhook_secret == app["webhook_secret"]
    assert written.github_client_id == app["client_id"]
    assert written.github_client_secret == app["client_secret"]


async def test_existing_values_are_kept_unless_confirmed(first_run: Harness) -> None:
    env_file = first_run.services.settings.setup_env_file
    env_file.write_text('LOG_LEVEL=DEBUG\nAPP_ID=7\nPRIVATE_KEY="-----BEGIN\nold\n-----END"\n')
    before = env_file.read_text()
    state = form_of((await first_run.client.get("/")).text)[0].split("state=")[1]
    code = first_run.fake.manifest_code(app_id=99)
    answer = await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    assert "already sets APP_ID, PRIVATE_KEY" in answer.text
    assert env_file.read_text() == before
    token = re.search(r'name=token value="([^"]+)"', answer.text)
    assert token
    done = await first_run.client.post("/setup/confirm", data={"token": token.group(1)})
    assert "Restart the service" in done.text
    written = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert written.app_id == 99
    assert written.log_level == "DEBUG"
    assert "old" not in env_file.read_text()
    again = await first_run.client.post("/setup/confirm", data={"token": token.group(1)})
    assert again.status_code == 400


async def test_callback_without_our_state_is_refused(first_run: Harness) -> None:
    code = first_run.fake.manifest_code()
    answer = await first_run.client.get("/setup/callback", params={"code": code, "state": "x"})
    assert answer.status_code == 400
    assert code in first_run.fake.manifests  # never exchanged
    assert not first_run.services.settings.setup_env_file.exists()


async def test_expired_code_is_reported(first_run: Harness) -> None:
    state = form_of((await first_run.client.get("/")).text)[0].split("state=")[1]
    answer = await first_run.client.get("/setup/callback", params={"code": "gone", "state": state})
    assert answer.status_code == 502
    assert "GitHub did not hand over the App" in answer.text


def test_write_env_keeps_other_lines(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# mine\nPORT=4000\nexport APP_ID=1")
    write_env(path, {"APP_ID": "2", "PRIVATE_KEY": 'a"b\nc\\d'})
    settings = Settings(_env_file=path)  # type: ignore[call-arg]
    assert (settings.port, settings.app_id, settings.private_key) == (4000, 2, 'a"b\nc\\d')
    assert path.read_text().startswith("# mine\nPORT=4000\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_make_run_serves_the_setup_page_without_credentials(tmp_path: Path) -> None:
    """`python -m app serve` (what `make run` runs) starts with no App and shows set-up."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET"}
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite", PYTHONPATH=os.getcwd())
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the service exited"
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
        assert health.json()["worker"] == "not configured"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert "Set up Incident Flow" in page.text
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_unwritable_env_file_shows_the_values_instead(harness_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "read-only"
    blocker.write_text("a file where a directory would be")
    harness = await harness_for(setup_env_file=blocker / ".env", **UNCONFIGURED)
    state = form_of((await harness.client.get("/")).text)[0].split("state=")[1]
    code = harness.fake.manifest_code(app_id=77)
    answer = await harness.client.get("/setup/callback", params={"code": code, "state": state})
    assert answer.status_code == 200
    assert "Set these values yourself" in answer.text
    assert "APP_ID=77" in answer.text
