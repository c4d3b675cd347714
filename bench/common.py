"""What every benchmark shares: a key, the fake GitHub on a port, the service, the inbox."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.queue.inbox import Inbox
from app.sandbox.github import new_private_key as private_key  # noqa: F401
from app.settings import Settings
from app.storage.db import deliveries
from app.storage.engine import make_engine

REPO = "octo/ops"


def open_inbox(database_url: str) -> Inbox:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    return Inbox(make_engine(settings.async_database_url))


async def count_stored(database_url: str, prefix: str = "") -> int:
    inbox = open_inbox(database_url)
    try:
        async with inbox.engine.connect() as conn:
            query = select(func.count()).select_from(deliveries)
            if prefix:
                query = query.where(deliveries.c.delivery_id.like(prefix + "%"))
            return int((await conn.execute(query)).scalar_one())
    finally:
        await inbox.engine.dispose()


async def wait_drained(database_url: str, timeout: float = 600.0) -> dict[str, int]:
    inbox = open_inbox(database_url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            counts = await inbox.counts()
            if not counts.get("pending") and not counts.get("processing"):
                return counts
            if loop.time() > deadline:
                raise TimeoutError(f"the inbox did not drain: {counts}")
            await asyncio.sleep(0.1)
    finally:
        await inbox.engine.dispose()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def ensure_wrk() -> str | None:
    """wrk from Debian; installed when missing and we may, else None with a message."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        for step in (["apt-get", "install", "-y", "-q", "wrk"], ["apt-get", "update", "-q"]) * 2:
            if shutil.which("wrk"):
                break
            subprocess.run(step, check=False)  # the update runs only when the install failed
        found = shutil.which("wrk")
    if not found:
        print(
            "wrk is not installed and could not be installed (try `sudo apt-get install wrk`);"
            " the webhook ack benchmark is skipped.",
            file=sys.stderr,
        )
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
