"""First run: the set-up page, GitHub's manifest conversion (the fake) and the `.env` file."""

import html
import json
import logging
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
from app.web import setup_gate
from app.web.env_file import write_env
from app.web.manifest import build_manifest, unreachable_reason
from tests.conftest import Harness

UNCONFIGURED = {"app_id": None, "private_key": None, "webhook_secret": None}
LINK = re.compile(r"(https?://\S+)/setup\?token=([\w-]+)")


def console_token(capsys: pytest.CaptureFixture[str]) -> str:
    """The token the service printed on its console at start (the last one printed)."""
    found = LINK.findall(capsys.readouterr().err)
    assert found, "no set-up link on the console"
    return str(found[-1][1])


async def unconfigured(harness_for, capsys, **overrides) -> tuple[Harness, str]:  # type: ignore[no-untyped-def]
    harness = await harness_for(**{**UNCONFIGURED, **overrides})
    if overrides.get("public_url"):
        # The browser on PUBLIC_URL's host (elsewhere the page redirects there first); on
        # https the cookie is Secure.
        harness.client.base_url = httpx.URL(str(overrides["public_url"]))
    return harness, console_token(capsys)


async def with_token(harness_for, capsys, **overrides) -> Harness:  # type: ignore[no-untyped-def]
    """An unconfigured service whose client opened the console's set-up link."""
    harness, token = await unconfigured(harness_for, capsys, **overrides)
    opened = await harness.client.get("/setup", params={"token": token})
    assert opened.status_code == 303
    assert opened.headers["location"] == "/setup"  # the token leaves the address bar
    return harness


@pytest.fixture
async def first_run(harness_for, tmp_path: Path, capsys) -> Harness:  # type: ignore[no-untyped-def]
    return await with_token(harness_for, capsys, setup_env_file=tmp_path / ".env")


def state_of(page: str) -> str:
    return form_of(page)[0].split("state=")[1]


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


async def test_organisation_form_and_public_url(harness_for, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    harness = await with_token(
        harness_for,
        capsys,
        setup_env_file=tmp_path / ".env",
        public_url="https://incidents.example.org",
        github_api_url="https://ghe.example.org/api/v3",
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
    # Some of our keys, but no App yet (credentials would close the set-up).
    env_file.write_text('LOG_LEVEL=DEBUG\nAPP_ID=7\nWEBHOOK_SECRET="old-secret-value"\n')
    before = env_file.read_text()
    state = form_of((await first_run.client.get("/")).text)[0].split("state=")[1]
    code = first_run.fake.manifest_code(app_id=99)
    answer = await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    assert "already sets APP_ID, WEBHOOK_SECRET" in answer.text
    assert env_file.read_text() == before
    token = re.search(r'name=token value="([^"]+)"', answer.text)
    assert token
    done = await first_run.client.post("/setup/confirm", data={"token": token.group(1)})
    assert "Restart the service" in done.text
    written = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert written.app_id == 99
    assert written.log_level == "DEBUG"
    assert "old-secret-value" not in env_file.read_text()
    again = await first_run.client.post("/setup/confirm", data={"token": token.group(1)})
    assert again.status_code == 404  # credentials written: the set-up is closed


async def test_a_confirmation_expires(first_run: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = first_run.services.settings.setup_env_file
    env_file.write_text("WEBHOOK_SECRET=old-secret-value\n")
    state = state_of((await first_run.client.get("/")).text)
    code = first_run.fake.manifest_code(app_id=99)
    answer = await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    token = re.search(r'name=token value="([^"]+)"', answer.text)
    assert token
    later = time.monotonic() + setup_gate.PENDING_SECONDS + 1
    monkeypatch.setattr(setup_gate, "clock", lambda: later)
    late = await first_run.client.post("/setup/confirm", data={"token": token.group(1)})
    assert late.status_code == 400
    assert env_file.read_text() == "WEBHOOK_SECRET=old-secret-value\n"


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
    """`python -m app serve` (what `make run` runs) starts with no App, prints the set-up
    link with its token on the console, and its logs never show the token."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET", "PORT"}
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite", PYTHONPATH=os.getcwd())
    console = tmp_path / "console.txt"
    with console.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
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
        found = LINK.search(console.read_text())
        assert found, console.read_text()
        assert found.group(1) == f"http://127.0.0.1:{port}"  # the port it listens on
        token = found.group(2)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as browser:
            assert "Set up Incident Flow" in browser.get("/").text
            assert "name=manifest" not in browser.get("/").text  # not without the token
            opened = browser.get("/setup", params={"token": token}, follow_redirects=True)
            assert "name=manifest" in opened.text
            browser.get("/setup/callback", params={"code": "one-time-code", "state": "s"})
    finally:
        process.terminate()
        process.wait(timeout=10)
    lines = console.read_text().splitlines()
    logged = [json.loads(line)["message"] for line in lines if line.startswith("{")]
    assert any('"GET /setup?token=[redacted] HTTP/1.1" 303' in line for line in logged), logged
    assert not [line for line in logged if token in line or "one-time-code" in line]
    assert len([line for line in lines if token in line]) == 1  # the console's link


async def test_unwritable_env_file_shows_the_values_instead(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "read-only"
    blocker.write_text("a file where a directory would be")
    harness = await with_token(harness_for, capsys, setup_env_file=blocker / ".env")
    state = form_of((await harness.client.get("/")).text)[0].split("state=")[1]
    code = harness.fake.manifest_code(app_id=77)
    answer = await harness.client.get("/setup/callback", params={"code": code, "state": state})
    assert answer.status_code == 200
    assert "Set these values yourself" in answer.text
    assert "APP_ID=77" in answer.text


async def test_setup_needs_the_token_printed_on_the_console(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    harness, token = await unconfigured(harness_for, capsys, setup_env_file=tmp_path / ".env")
    code = harness.fake.manifest_code()
    for path, params in [
        ("/", {}),
        ("/setup", {}),
        ("/setup", {"token": "guessed"}),
    ]:
        answer = await harness.client.get(path, params=params)
        assert answer.status_code == 403, path
        assert "printed on its console" in answer.text
        assert "name=manifest" not in answer.text
    # The callback answers to the state alone: unknown here, so nothing is exchanged.
    lost = await harness.client.get("/setup/callback", params={"code": code, "state": "x"})
    assert lost.status_code == 400 and "name=manifest" not in lost.text
    refused = await harness.client.post("/setup/confirm", data={"token": "x"})
    assert refused.status_code == 403
    assert code in harness.fake.manifests  # never exchanged
    await harness.client.get("/setup", params={"token": token})
    assert "name=manifest" in (await harness.client.get("/setup")).text
    assert "name=manifest" in (await harness.client.get("/")).text


async def test_a_set_up_cookie_from_an_earlier_start_is_worthless(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shared = {"setup_env_file": tmp_path / ".env", "session_secret": "kept-across-restarts"}
    before = await with_token(harness_for, capsys, **shared)
    state = state_of((await before.client.get("/setup")).text)
    after, _ = await unconfigured(harness_for, capsys, **shared)
    after.client.cookies.update(before.client.cookies)
    code = after.fake.manifest_code()
    page = await after.client.get("/setup")
    assert page.status_code == 403 and "name=manifest" not in page.text
    answer = await after.client.get("/setup/callback", params={"code": code, "state": state})
    assert answer.status_code == 400
    assert "The App was not set up here" in answer.text
    assert code in after.fake.manifests


async def test_setup_answers_404_once_the_app_is_registered(first_run: Harness) -> None:
    state = state_of((await first_run.client.get("/")).text)
    code = first_run.fake.manifest_code(app_id=4242)
    done = await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    assert "Restart the service" in done.text
    # The same process, not restarted: the next request finds the written credentials.
    second = first_run.fake.manifest_code(app_id=666)
    for path, params in [
        ("/setup", {}),
        ("/setup/callback", {"code": second, "state": state}),
        ("/", {}),
    ]:
        answer = await first_run.client.get(path, params=params)
        assert answer.status_code == 404, path
        assert "name=manifest" not in answer.text
    confirm = await first_run.client.post("/setup/confirm", data={"token": "x"})
    assert confirm.status_code == 404
    assert second in first_run.fake.manifests
    assert Settings(_env_file=first_run.services.settings.setup_env_file).app_id == 4242  # type: ignore[call-arg]


async def test_setup_answers_404_once_the_environment_has_credentials(
    first_run: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await first_run.client.get("/setup")).status_code == 200
    monkeypatch.setenv("APP_ID", "5")
    monkeypatch.setenv("PRIVATE_KEY_PATH", "/run/secrets/key.pem")
    assert (await first_run.client.get("/setup")).status_code == 404
    assert (await first_run.client.get("/")).status_code == 404


async def test_a_configured_service_has_no_setup(harness: Harness) -> None:
    """An old set-up cookie (SESSION_SECRET kept) finds nothing to use it on."""
    code = harness.fake.manifest_code()
    answer = await harness.client.get("/setup/callback", params={"code": code, "state": "s"})
    assert answer.status_code == 404
    assert (await harness.client.get("/setup")).status_code == 404
    assert (await harness.client.post("/setup/confirm", data={"token": "t"})).status_code == 404
    assert code in harness.fake.manifests


async def test_a_state_works_once(first_run: Harness) -> None:
    state = state_of((await first_run.client.get("/")).text)
    failed = await first_run.client.get("/setup/callback", params={"code": "gone", "state": state})
    assert failed.status_code == 502
    code = first_run.fake.manifest_code()
    again = await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    assert again.status_code == 400
    assert code in first_run.fake.manifests  # never exchanged
    assert not first_run.services.settings.setup_env_file.exists()
    fresh = state_of((await first_run.client.get("/")).text)
    assert fresh != state


async def test_a_state_expires(first_run: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    state = state_of((await first_run.client.get("/")).text)
    later = time.monotonic() + setup_gate.STATE_SECONDS + 1
    monkeypatch.setattr(setup_gate, "clock", lambda: later)
    code = first_run.fake.manifest_code()
    answer = await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    assert answer.status_code == 400
    assert code in first_run.fake.manifests
    assert not first_run.services.settings.setup_env_file.exists()


async def test_page_loads_keep_a_bounded_number_of_states(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    harness, token = await unconfigured(harness_for, capsys, setup_env_file=tmp_path / ".env")
    for _ in range(setup_gate.MAX_STATES + 10):
        harness.client.cookies.clear()  # a fresh visitor each time
        await harness.client.get("/setup", params={"token": token})
        await harness.client.get("/setup")
    app = harness.client._transport.app  # type: ignore[attr-defined]
    assert len(app.state.setup_gate.states) == setup_gate.MAX_STATES


async def test_the_manifest_code_never_reaches_a_log_line(
    first_run: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet in service; heard here on purpose
    state = state_of((await first_run.client.get("/")).text)
    code = first_run.fake.manifest_code()
    await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    assert "/app-manifests/[redacted]/conversions" in caplog.text  # httpx's request line
    assert code not in caplog.text
    assert state not in caplog.text


def test_access_log_lines_hide_one_time_codes(
    settings_for,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """uvicorn's access log prints the query string: GitHub's codes and our states must
    not be in it, whichever formatter a deployment uses (uvicorn's unpacks the arguments)."""
    from uvicorn.logging import AccessFormatter

    from app.main import create_app
    from app.sandbox.github import FakeGitHub
    from tests.test_browser import served

    caplog.set_level(logging.INFO, logger="uvicorn.access")
    settings = settings_for(github_client_id="Iv1.test", github_client_secret="s3cret")
    fake = FakeGitHub()
    app = create_app(settings, github_transport=httpx.ASGITransport(app=fake), start_worker=False)
    secrets = ["abc-setup-code", "st4te-one", "abc-oauth-code", "st4te-two", "t0ken"]
    with served(app) as url:
        httpx.get(f"{url}/setup/callback?code={secrets[0]}&state={secrets[1]}", timeout=5)
        httpx.get(f"{url}/auth/callback?state={secrets[3]}&code={secrets[2]}", timeout=5)
        httpx.get(f"{url}/setup?token={secrets[4]}", timeout=5)
    access = [r for r in caplog.records if r.name == "uvicorn.access"]
    lines = [AccessFormatter("%(request_line)s %(status_code)s").format(r) for r in access]
    lines += [r.getMessage() for r in access]
    assert len(access) == 3, lines
    assert "GET /setup/callback?code=[redacted]&state=[redacted] HTTP/1.1 404 Not Found" in lines
    assert "GET /auth/callback?state=[redacted]&code=[redacted] HTTP/1.1 400 Bad Request" in lines
    assert not [line for line in lines for secret in secrets if secret in line]


TUNNEL = "https://incidents.tunnel.example"


async def test_opened_elsewhere_the_page_moves_to_public_url_first(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    harness, token = await unconfigured(
        harness_for, capsys, setup_env_file=tmp_path / ".env", public_url=TUNNEL
    )
    harness.client.base_url = httpx.URL("http://localhost:3000")  # the laptop's address
    moved = await harness.client.get("/setup", params={"token": token})
    assert moved.status_code == 303
    assert moved.headers["location"] == f"{TUNNEL}/setup?token={token}"
    plain = await harness.client.get("/")
    assert (plain.status_code, plain.headers["location"]) == (303, f"{TUNNEL}/setup")
    guessed = await harness.client.get("/setup", params={"token": "guessed"})
    assert guessed.status_code == 403 and "location" not in guessed.headers  # no open relay
    # A tunnel that rewrites Host names the public one in X-Forwarded-Host: no loop.
    rewritten = await harness.client.get(
        "/setup", headers={"X-Forwarded-Host": "incidents.tunnel.example"}
    )
    assert rewritten.status_code == 403 and "printed on its console" in rewritten.text
    # Following the redirect: the public host grants the session and shows the form.
    harness.client.base_url = httpx.URL(TUNNEL)
    opened = await harness.client.get(moved.headers["location"], follow_redirects=True)
    assert "name=manifest" in opened.text
    assert form_of(opened.text)[1]["redirect_url"] == f"{TUNNEL}/setup/callback"


async def test_the_callback_needs_no_cookie_only_the_state(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """GitHub brings the browser back to PUBLIC_URL's host, where the page's cookie may not
    exist: the state from the server's own store is enough, and works once."""
    env_file = tmp_path / ".env"
    env_file.write_text("WEBHOOK_SECRET=old-secret-value\n")
    harness = await with_token(harness_for, capsys, setup_env_file=env_file, public_url=TUNNEL)
    state = state_of((await harness.client.get("/setup")).text)
    harness.client.cookies.clear()  # another host, another browser profile: no cookie
    code = harness.fake.manifest_code(app_id=4343)
    answer = await harness.client.get("/setup/callback", params={"code": code, "state": state})
    assert answer.status_code == 200 and "Settings already exist" in answer.text
    token = re.search(r'name=token value="([^"]+)"', answer.text)
    assert token
    done = await harness.client.post("/setup/confirm", data={"token": token.group(1)})
    assert "Restart the service" in done.text
    assert Settings(_env_file=env_file).app_id == 4343  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:3000",
        "http://127.8.0.1",
        "http://localhost:3000",
        "http://[::1]:3000",
        "http://10.1.2.3",
        "http://172.20.0.1:8080",
        "http://192.168.1.5:3000",
        "http://incidents.local",
    ],
)
async def test_a_webhook_url_github_refuses_holds_the_button(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    base: str,
) -> None:
    harness, token = await unconfigured(harness_for, capsys, setup_env_file=tmp_path / ".env")
    harness.client.base_url = httpx.URL(base)  # the page opened on that address
    page = (await harness.client.get("/setup", params={"token": token}, follow_redirects=True)).text
    assert "<button type=submit disabled>Create the App" in page, base
    assert "Held: GitHub refuses to send webhooks to" in page
    assert "https://smee.io/new" in page
    # The same laptop with a proxy channel: GitHub reaches the channel.
    channel = (await harness.client.get("/setup", params={"channel": "https://smee.io/AbC"})).text
    assert "disabled" not in channel
    assert form_of(channel)[1]["hook_attributes"] == {"url": "https://smee.io/AbC", "active": True}


@pytest.mark.parametrize(
    ("url", "held"),
    [
        ("https://smee.io/abc", False),
        ("http://172.15.0.1/x", False),
        ("http://172.32.0.1/x", False),
        ("http://8.8.8.8/x", False),
        ("http://172.31.255.1/x", True),
        ("http://app.localhost/x", True),
        ("http://LOCALHOST./x", True),
        ("http://169.254.1.1/x", True),
        ("http://[fd00::1]/x", True),
    ],
)
def test_unreachable_webhook_hosts(url: str, held: bool) -> None:
    assert (unreachable_reason(url) is not None) == held


async def test_a_proxy_channel_becomes_the_webhook_url_and_is_written(
    first_run: Harness,
) -> None:
    channel = "https://smee.io/Fq2tGbKd9e"
    page = (await first_run.client.get("/setup", params={"channel": channel})).text
    assert form_of(page)[1]["hook_attributes"]["url"] == channel  # type: ignore[index]
    assert 'name=channel size=40 placeholder="https://smee.io/…" value="https://smee.io/Fq' in page
    bad = (await first_run.client.get("/setup", params={"channel": "javascript:x"})).text
    assert "not an http(s) URL" in bad
    state = state_of((await first_run.client.get("/setup", params={"channel": channel})).text)
    code = first_run.fake.manifest_code(app_id=4242)
    done = await first_run.client.get("/setup/callback", params={"code": code, "state": state})
    assert "Restart the service" in done.text
    written = Settings(_env_file=first_run.services.settings.setup_env_file)  # type: ignore[call-arg]
    assert (written.app_id, written.webhook_proxy_url) == (4242, channel)


async def test_webhook_proxy_url_setting_goes_into_the_manifest(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    channel = "https://smee.io/from-the-env"
    harness, token = await unconfigured(
        harness_for, capsys, setup_env_file=tmp_path / ".env", webhook_proxy_url=channel
    )
    harness.client.base_url = httpx.URL("http://127.0.0.1:3000")
    page = (await harness.client.get("/setup", params={"token": token}, follow_redirects=True)).text
    manifest = form_of(page)[1]
    assert manifest["hook_attributes"] == {"url": channel, "active": True}
    assert manifest["redirect_url"] == "http://127.0.0.1:3000/setup/callback"
    assert "disabled" not in page and "a webhook proxy channel" in page


async def test_a_lost_registration_says_where_the_app_is(
    harness_for,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shared = {"setup_env_file": tmp_path / ".env", "session_secret": "kept"}
    before = await with_token(harness_for, capsys, **shared)
    page = await before.client.get("/setup", params={"name": "Ops Flow", "org": "octo-org"})
    state = state_of(page.text)
    failed = await before.client.get("/setup/callback", params={"code": "gone", "state": state})
    assert failed.status_code == 502
    assert 'href="https://github.test/organizations/octo-org/settings/apps/ops-flow"' in failed.text
    assert "delete it" in failed.text and "another name" in failed.text
    # After a restart the state is unknown: GitHub's list of Apps, never "not from us".
    state = state_of((await before.client.get("/setup")).text)
    after, _ = await unconfigured(harness_for, capsys, **shared)
    code = after.fake.manifest_code()
    lost = await after.client.get("/setup/callback", params={"code": code, "state": state})
    assert lost.status_code == 400
    assert 'href="https://github.test/settings/apps"' in lost.text
    assert "restarted" in lost.text and "delete it" in lost.text
    assert "did not come from our set-up page" not in lost.text
    assert code in after.fake.manifests  # never exchanged
