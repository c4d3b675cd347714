"""A scripted walk through the sandbox in headless Chromium, driven over the DevTools protocol.

Declare, an illegal move reverted, `/stabilize`, resolve: each step fills and submits the
page's own forms, waits for the reloaded page and checks what it shows. The screenshots go
to test-artifacts/; `UPDATE_SCREENSHOTS=1 make test` refreshes docs/screenshots/ (the README
opens with them), so an ordinary run leaves the work tree clean.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.main import create_app
from app.settings import Settings
from tests.test_browser import FLAGS, served
from tests.test_browser import browser as browser  # the fixture: Chromium, or skip

ROOT = Path(__file__).resolve().parent.parent
SHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else ROOT / "test-artifacts" / "screenshots"
)
SP, ST, RS = "status:stabilization-pending", "status:stabilized", "status:resolved"


class Tab:
    """One page of a Chromium started with --remote-debugging-port."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call = next(self.ids)
        await self.socket.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:  # events arrive in between: skip them
            message = json.loads(await asyncio.wait_for(self.socket.recv(), 60))
            if message.get("id") == call:
                assert "error" not in message, message
                return message["result"]  # type: ignore[no-any-return]

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def loaded(self) -> None:
        """Wait for a new document (the old one was marked) to finish loading."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = await self.js("window.__old ? 'old' : document.readyState")
            if state == "complete":
                await self.js("window.__old = true")
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the page did not load")

    async def goto(self, url: str) -> None:
        await self.js("window.__old = true")
        await self.send("Page.navigate", url=url)
        await self.loaded()

    async def submit(self, form: str, **fields: str) -> None:
        """Fill a form of the page by its id and submit it as a click would."""
        script = f"const f = document.getElementById({json.dumps(form)});"
        for name, value in fields.items():
            script += f"f.elements[{json.dumps(name)}].value = {json.dumps(value)};"
        await self.js(script + "window.__old = true; f.requestSubmit();")
        await self.loaded()

    async def text(self, selector: str) -> str:
        found = await self.js(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''"
        )
        return str(found)

    async def shot(self, name: str) -> Path:
        height = await self.js("document.documentElement.scrollHeight")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=min(int(height), 1500),
            deviceScaleFactor=1,
            mobile=False,
        )
        data = await self.send("Page.captureScreenshot", format="png")
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / name
        path.write_bytes(base64.b64decode(data["data"]))
        await self.send("Emulation.clearDeviceMetricsOverride")
        return path


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/real.db")  # type: ignore[call-arg]
    with served(create_app(settings)) as url:
        yield url


@pytest.fixture
async def tab(browser: str, tmp_path: Path) -> AsyncIterator[Tab]:
    profile = tmp_path / "profile"
    debugged = (f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1280,900")
    process = subprocess.Popen(
        [browser, *FLAGS, *debugged, "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None and time.monotonic() < deadline, "no DevTools port"
            await asyncio.sleep(0.1)
        port = port_file.read_text().split()[0]
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        async with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            yield Tab(socket)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_a_walk_through_the_sandbox(tab: Tab, sandbox_url: str) -> None:
    await tab.goto(sandbox_url + "/sandbox?as=maya")
    assert "Sandbox: try Incident Flow without GitHub" in await tab.text("h1")
    assert "No issues yet" in await tab.text("ul.issues")

    # Declare: maya (a maintainer) opens an issue and records it as a severity 1 incident.
    await tab.submit("open", title="Checkout fails for every customer")
    await tab.submit("comment", text="/incident 1")
    labels = await tab.text("#labels")
    assert "incident" in labels and "severity:1" in labels and SP in labels
    assert (await tab.text("#assignees")).strip() not in ("", "none")  # the lead
    assert "Incident status: Stabilization pending" in await tab.text("#comments")
    await tab.shot("sandbox-declared.png")

    # An illegal move in the sidebar is put back, with a comment naming the legal moves.
    await tab.submit("label", text=RS)
    labels = await tab.text("#labels")
    assert SP in labels and RS not in labels
    assert "legal" in (await tab.text("#comments")).lower()
    await tab.shot("sandbox-reverted.png")

    # Stabilization work: a sub-issue with the critical label.
    await tab.submit("comment", text="/stabilize Roll back the payment service")
    subs = await tab.text("#subissues")
    assert "Roll back the payment service" in subs and "priority:critical" in subs
    await tab.shot("sandbox-stabilize.png")

    # Resolve once the stabilization work is closed, and the dashboard has it.
    await tab.submit("comment", text="/stabilized")
    await tab.submit("comment", text="/resolved")
    assert RS not in await tab.text("#labels")  # the roll back is still open
    assert "is still open" in await tab.text("#comments")
    await tab.goto(sandbox_url + "/sandbox?as=maya&issue=2")  # the stabilization issue
    assert "Roll back the payment service" in await tab.text("#issue h2")
    await tab.submit("state")
    await tab.goto(sandbox_url + "/sandbox?as=maya&issue=1")
    await tab.submit("comment", text="/resolved")
    assert RS in await tab.text("#labels")
    assert "Incident status: Resolved" in await tab.text("#comments")
    await tab.goto(sandbox_url + "/sandbox/board/")
    board = await tab.text("main")
    assert "Checkout fails for every customer" in board and "Resolved" in board
    shot = await tab.shot("sandbox-dashboard.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
