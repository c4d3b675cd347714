"""The generic JSON webhook channel (`chat.webhook`): one POST per change, for the bridges
to Matrix, Discord or Teams that take a JSON body with a `text`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.domain.chat import Heard, plain_change
from app.domain.records import Incident
from app.service.chat_post import Environment, Sender, named
from app.settings import Settings

if TYPE_CHECKING:
    from app.service.notifiers import ChannelKit

CHANNEL = "webhook"


def body_for(after: Incident, heard: Heard, url: str) -> dict[str, Any]:
    """The JSON body: `text` to show as it is (Markdown-safe); the facts for a bridge that
    formats its own message. `incident.title` is the issue's title as written: hostile
    text, which a bridge that shows it must escape."""
    return {
        "text": plain_change(after, heard.what, url),
        "changes": list(heard.what),
        "incident": {
            "repository": after.repo,
            "number": after.number,
            "url": url,
            "title": after.title,
            "severity": int(after.severity) if after.severity else None,
            "status": after.status.value,
            "status_name": after.status.display,
            "lead": after.lead,
            "managed": after.managed,
        },
    }


def from_settings(settings: Settings, kit: ChannelKit) -> JsonWebhook:
    return JsonWebhook(settings.github_web_url, kit.sender, kit.env)


class JsonWebhook:
    def __init__(self, web_url: str, sender: Sender, env: Environment) -> None:
        self.web_url = web_url.rstrip("/")
        self.sender = sender
        self.env = env

    async def incident_changed(
        self, before: Incident | None, after: Incident, heard: Heard | None
    ) -> None:
        if heard is None or heard.route.webhook is None:
            return
        hook = named(self.env, self.sender, CHANNEL, heard.route.webhook)
        if hook is None:
            return
        body = body_for(after, heard, f"{self.web_url}/{after.repo}/issues/{after.number}")
        hold = heard.route.webhook

        async def post() -> None:
            if await self.sender.post(CHANNEL, hook, body, hold=hold) is not None:
                self.sender.count(CHANNEL, "sent")

        self.sender.submit(f"{CHANNEL}:{after.repo_id}#{after.number}", CHANNEL, post)

    async def drain(self) -> None:
        await self.sender.drain()
