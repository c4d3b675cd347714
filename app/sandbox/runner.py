"""A running sandbox: the simulated GitHub, a whole service wired to it, signed deliveries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import shutil
import tempfile
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from app.sandbox.demo import CONFIG_PATH, PEOPLE, POLICY, REPO, Action
from app.sandbox.github import FakeGitHub, new_private_key
from app.settings import Settings

log = logging.getLogger(__name__)

Deliveries = list[tuple[str, dict[str, Any]]]
# Echo rounds after one action: the service's answer to its own changes settles in two.
ECHO_ROUNDS = 5


class SandboxSettings(Settings):
    """Settings from the arguments only: no `.env`, no environment (no real Slack, no real
    database, no real App credentials can leak into the sandbox)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @property
    def reads_environment(self) -> bool:
        # A playground config naming a chat variable must not reach the machine's real chat.
        return False


def sandbox_settings(folder: Path, log_level: str = "INFO") -> Settings:
    return SandboxSettings(
        app_id=1,
        private_key=new_private_key(),
        webhook_secret=secrets.token_hex(20),
        github_api_url="https://api.github.sandbox",
        # The dashboard's issue links lead back to the sandbox page.
        github_url="/sandbox/github",
        database_url=f"sqlite:///{folder}/sandbox.db",
        setup_env_file=folder / ".env",
        log_level=log_level,
        # Every delivery of one change is sent before processing starts: no need to wait.
        settle_seconds=0.0,
        max_inline_wait_seconds=0.5,
    )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Sandbox:
    """One demo world: a FakeGitHub and a whole service (its own database in a temp folder)."""

    def __init__(
        self, folder: Path, fake: FakeGitHub, service: FastAPI, settings: Settings
    ) -> None:
        self.folder = folder
        self.fake = fake
        self.service = service
        self.settings = settings
        self.lock = asyncio.Lock()  # one action at a time: each waits for the worker
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service), base_url="http://sandbox"
        )
        self._lifespan: AbstractAsyncContextManager[Any] | None = None
        self.closed = False

    @classmethod
    async def start(cls, log_level: str = "INFO") -> Sandbox:
        from app.main import create_app  # main wires the sandbox's routes: import late

        folder = Path(tempfile.mkdtemp(prefix="incident-flow-sandbox-"))
        settings = sandbox_settings(folder, log_level)
        fake = FakeGitHub()
        # The worker is not started: each action runs it until idle, so the page shows the
        # service's answer as soon as it loads.
        service = create_app(
            settings, github_transport=httpx.ASGITransport(app=fake), start_worker=False
        )
        sandbox = cls(folder, fake, service, settings)
        sandbox._lifespan = service.router.lifespan_context(service)
        await sandbox._lifespan.__aenter__()
        sandbox.follow_clock()
        repo = sandbox.fake.repo(REPO)
        for person in PEOPLE:
            repo.permissions[person.login] = person.role
        repo.files[CONFIG_PATH] = POLICY
        # Installing the App on the repository: the service creates the policy's labels.
        await sandbox.deliver(sandbox.fake.installation_event([REPO]))
        return sandbox

    async def close(self) -> None:
        self.closed = True
        await self.client.aclose()
        if self._lifespan is not None:
            await self._lifespan.__aexit__(None, None, None)
        shutil.rmtree(self.folder, ignore_errors=True)

    def follow_clock(self) -> None:
        """The simulated GitHub's clock is the wall clock (leads depend on working hours)."""
        self.fake.now = max(self.fake.now, datetime.now(UTC))

    @property
    def worker(self) -> Any:
        return self.service.state.services.worker

    async def post(self, event: str, payload: dict[str, Any]) -> int:
        """One delivery through the service's real receiver, signed as GitHub signs."""
        body = json.dumps(payload).encode()
        assert self.settings.webhook_secret is not None
        response = await self.client.post(
            self.settings.webhook_path,
            content=body,
            headers={
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": sign(self.settings.webhook_secret, body),
                "Content-Type": "application/json",
            },
        )
        return response.status_code

    async def deliver(self, deliveries: Deliveries) -> None:
        """Send what GitHub would send, let the worker finish, then send its echoes."""
        for _ in range(ECHO_ROUNDS):
            for event, payload in deliveries:
                status = await self.post(event, payload)
                if status >= 300:
                    log.warning("sandbox delivery %s refused: %s", event, status)
            try:
                await self.worker.run_until_idle(timeout=60.0)
            except TimeoutError:
                # The page shows what is done so far; the rest is processed at the next action.
                log.warning("sandbox: the worker did not finish within a minute")
                return
            deliveries = self.fake.take_echoes()
            if not deliveries:
                return

    async def act(self, action: Action) -> int | None:
        """Do `action` in the simulated GitHub and deliver its webhooks; the issue it shows."""
        async with self.lock:
            if self.closed:  # "Start over" won the race: the action belongs to the old world
                return None
            self.follow_clock()
            deliveries, number = self.perform(action)
            await self.deliver(deliveries)
            return number

    def perform(self, action: Action) -> tuple[Deliveries, int | None]:
        fake, who, number = self.fake, action.actor, action.number
        if action.kind == "open":
            issue = fake.add_issue(
                REPO, title=action.title, labels=list(action.labels), user=who, body=action.text
            )
            repo = fake.repos[REPO]
            payload = fake.event_payload(
                repo, who, action="opened", issue=fake.issue_payload(repo, issue)
            )
            return [("issues", payload)], issue.number
        if action.kind == "policy":
            return fake.push_file(REPO, CONFIG_PATH, action.text, actor=who), None
        assert number is not None
        if action.kind == "comment":
            return fake.comment(REPO, number, action.text, actor=who), number
        if action.kind == "label":
            return fake.label(REPO, number, add=[self.label_name(action.text)], actor=who), number
        if action.kind == "unlabel":
            return fake.label(REPO, number, remove=[action.text], actor=who), number
        state = "closed" if action.kind == "close" else "open"
        return fake.set_state(REPO, number, state, actor=who), number

    def label_name(self, typed: str) -> str:
        """An existing label in its own spelling, as GitHub's label picker offers it."""
        existing = self.fake.repos[REPO].labels
        return next((n for n in existing if n.casefold() == typed.casefold()), typed)
