"""The dashboard in a real browser: headless Chromium loads pages the app serves over HTTP.

Needs Debian's `chromium` (`make test` installs it when it can). Outside CI a machine without
it skips these tests with the reason; in CI (CI=true) they must run, so a missing browser fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app.main import create_app
from app.sandbox.github import FakeGitHub
from app.storage.db import create_schema
from app.storage.engine import make_engine
from app.storage.store import IncidentStore
from tests.seed import PRIVATE, PUBLIC, SECRET_TITLE, seed

ARTIFACTS = Path("test-artifacts")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="module")
def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "Debian's chromium is not installed (make test installs it with apt-get as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; browser tests must run in CI")
        pytest.skip(reason)
    return found


def chromium(binary: str, profile: Path, *args: str) -> str:
    """Run headless Chromium once with a fresh profile; returns what it printed."""
    result = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app under uvicorn on a free port of the loopback, in a thread of this process."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def dashboard_url(settings_for, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    fake = FakeGitHub()
    settings = settings_for(f"sqlite:///{tmp_path}/board.db")

    async def seed_database() -> None:
        engine = make_engine(settings.async_database_url)
        await create_schema(engine)
        await seed(IncidentStore(engine), fake, datetime.now(UTC))
        await engine.dispose()

    asyncio.run(seed_database())
    app = create_app(settings, github_transport=httpx.ASGITransport(app=fake), start_worker=False)
    with served(app) as url:
        yield url


def test_dashboard_renders_in_chromium(browser: str, dashboard_url: str, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    dom = chromium(browser, tmp_path / "p1", "--dump-dom", dashboard_url + "/")
    assert "Search is down" in dom
    assert "Time to acknowledge, stabilize and resolve, last 90 days" in dom
    assert "<svg" in dom and "Severity 1 (2)" in dom
    chromium(
        browser,
        tmp_path / "p2",
        f"--screenshot={shot.resolve()}",
        "--window-size=1280,1000",
        "--hide-scrollbars",
        dashboard_url + "/",
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = chromium(browser, tmp_path / "p3", "--dump-dom", f"{dashboard_url}/incidents/{PUBLIC}/4")
    assert "Login loop" in page and "Timeline" in page
    chromium(
        browser,
        tmp_path / "p4",
        f"--screenshot={(ARTIFACTS / 'incident.png').resolve()}",
        "--window-size=1280,1000",
        f"{dashboard_url}/incidents/{PUBLIC}/4",
    )
    followups = chromium(browser, tmp_path / "p7", "--dump-dom", f"{dashboard_url}/followups")
    assert followups.index("Runbook for search") < followups.index("Alert on queue depth")
    assert "Restart the workers" not in followups and "Rotate the keys" not in followups
    leads = chromium(browser, tmp_path / "p5", "--dump-dom", f"{dashboard_url}/leads?days=365")
    assert "Lead duty, last 365 days" in leads and "<svg" in leads and "<td>carol</td>" in leads
    chromium(
        browser,
        tmp_path / "p6",
        f"--screenshot={(ARTIFACTS / 'lead-duty.png').resolve()}",
        "--window-size=1280,1000",
        f"{dashboard_url}/leads?days=365",
    )


def test_signed_out_browser_never_sees_a_private_incident(
    browser: str, dashboard_url: str, tmp_path: Path
) -> None:
    for n, path in enumerate(
        [
            "/",
            "/?sort=severity",
            "/api/incidents",
            f"/incidents/{PRIVATE}/1",
            "/chart.svg",
            "/leads",
            "/api/leads",
            "/followups",
            "/api/followups",
        ]
    ):
        dom = chromium(browser, tmp_path / f"q{n}", "--dump-dom", dashboard_url + path)
        assert SECRET_TITLE not in dom, path
        assert PRIVATE not in dom or path.startswith("/incidents"), path


PHONE = 390
MEASURE = """<!doctype html><meta charset=utf-8><body style="margin:0">
<script>
// Each page in a phone-wide frame of this same origin; its document's width is written out.
const paths = %s;
const frames = paths.map((path) => {
  const frame = document.createElement("iframe");
  frame.width = "%d"; frame.height = "800"; frame.style.border = "0"; frame.src = path;
  document.body.append(frame);
  return frame;
});
addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "widths";
  out.textContent = frames.map((f, i) =>
    paths[i] + " " + f.contentDocument.documentElement.scrollWidth).join("\\n");
  document.body.append(out);
});
</script>"""


def test_pages_fit_a_phone_wide_screen(browser: str, settings_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.responses import HTMLResponse

    fake = FakeGitHub()
    settings = settings_for(f"sqlite:///{tmp_path}/phone.db")

    async def seed_database() -> None:
        engine = make_engine(settings.async_database_url)
        await create_schema(engine)
        await seed(IncidentStore(engine), fake, datetime.now(UTC))
        await engine.dispose()

    asyncio.run(seed_database())
    app = create_app(settings, github_transport=httpx.ASGITransport(app=fake), start_worker=False)
    paths = [
        "/",
        "/?sort=age",
        f"/incidents/{PUBLIC}/4",
        f"/incidents/{PUBLIC}/99",
        "/nowhere",
        "/leads?days=365",
        "/followups",
    ]
    page = MEASURE % (json.dumps(paths), PHONE)
    app.add_api_route("/__measure", lambda: HTMLResponse(page), include_in_schema=False)
    with served(app) as url:
        dom = chromium(
            browser,
            tmp_path / "phone",
            "--virtual-time-budget=10000",
            f"--window-size={PHONE},900",
            "--dump-dom",
            url + "/__measure",
        )
        ARTIFACTS.mkdir(exist_ok=True)
        chromium(
            browser,
            tmp_path / "phone-shot",
            f"--screenshot={(ARTIFACTS / 'dashboard-phone.png').resolve()}",
            f"--window-size={PHONE},1400",
            "--hide-scrollbars",
            url + "/",
        )
    found = re.search(r'<pre id="widths">(.*?)</pre>', dom, flags=re.DOTALL)
    assert found, dom[-2000:]
    widths = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in found[1].splitlines()}
    assert set(widths) == set(paths)
    assert all(width <= PHONE for width in widths.values()), widths
