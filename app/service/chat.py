"""The Slack channel: an incoming webhook (the global SLACK_WEBHOOK_URL, or the repo's
`chat.slack`), or a bot (`chat.slack_token`) that keeps one thread per incident.

Posting happens in the background after the incident is saved: a slow or failing Slack
never delays nor fails the incident flow, it is only logged and counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.domain.chat import Heard, slack_change
from app.domain.records import Incident
from app.service.chat_post import Environment, Sender, named
from app.service.slack_threads import BOT, SlackThreads
from app.settings import Settings

if TYPE_CHECKING:
    from app.service.notifiers import ChannelKit

WEBHOOK = "slack"  # the channel's label in the chat metric and the logs (the bot's: BOT)


def slack_payload(text: str) -> dict[str, object]:
    """The webhook's body: no previews of links (an issue's text would show in them)."""
    return {"text": text, "unfurl_links": False, "unfurl_media": False}


def from_settings(settings: Settings, kit: ChannelKit) -> SlackChannel:
    """Always in use: a repo may name its own Slack at any time (app/service/notifiers.py)."""
    threads = SlackThreads(kit.sender, kit.threads)
    return SlackChannel(
        settings.slack_webhook_url, settings.github_web_url, kit.sender, kit.env, threads
    )


class SlackChannel:
    def __init__(
        self,
        webhook_url: str | None,
        web_url: str,
        sender: Sender,
        env: Environment,
        threads: SlackThreads,
    ) -> None:
        self.webhook_url = webhook_url  # the global default, for repos that name no channel
        self.web_url = web_url.rstrip("/")
        self.sender = sender
        self.env = env
        self.threads = threads

    async def incident_changed(
        self, before: Incident | None, after: Incident, heard: Heard | None
    ) -> None:
        if heard is None:
            return
        route = heard.route
        url = f"{self.web_url}/{after.repo}/issues/{after.number}"
        key = f"{after.repo_id}#{after.number}"
        if route.slack_token and route.channel:
            token = named(self.env, self.sender, BOT, route.slack_token)
            if token is not None:
                where = f"slack:{route.slack_token}:{route.channel}"
                channel = route.channel

                async def thread() -> None:
                    await self.threads.announce(token, channel, where, after, heard, url)

                self.sender.submit(f"{BOT}:{key}", BOT, thread)
            return
        if route.slack:
            hook, hold = named(self.env, self.sender, WEBHOOK, route.slack), route.slack
        elif not route.own:
            hook, hold = self.webhook_url, "SLACK_WEBHOOK_URL"
        else:
            return  # the repo's own channels are elsewhere
        if hook is None:
            return
        body = slack_payload(slack_change(after, heard.what, url))

        async def post() -> None:
            if await self.sender.post(WEBHOOK, hook, body, hold=hold) is not None:
                self.sender.count(WEBHOOK, "sent")

        self.sender.submit(f"{WEBHOOK}:{key}", WEBHOOK, post)

    async def drain(self) -> None:
        await self.sender.drain()
