"""A Slack bot's thread per incident: the first message (chat.postMessage) shows the
incident's state and is edited to it at every change (chat.update); the changes follow as
replies under it (`thread_ts`, kept per incident in the database)."""

from __future__ import annotations

import logging
from typing import Any

from app.domain.chat import Heard, slack_change, slack_headline
from app.domain.records import Incident
from app.service.chat_post import Sender
from app.storage.chat_threads import ChatThreads, Thread

log = logging.getLogger(__name__)

SLACK_API = "https://slack.com/api"
BOT = "slack_bot"
QUIET = {"unfurl_links": False, "unfurl_media": False}  # no previews of an issue's text


class SlackThreads:
    def __init__(self, sender: Sender, store: ChatThreads, api: str = SLACK_API) -> None:
        self.sender = sender
        self.store = store
        self.api = api.rstrip("/")

    async def announce(
        self, token: str, channel: str, where: str, after: Incident, heard: Heard, url: str
    ) -> None:
        """One change: begin the incident's thread, or edit its first message and reply."""
        headline = slack_headline(after, url)
        thread = await self.store.find(after.repo_id, after.number, where)
        if thread is None:
            answer = await self._call(
                token, "chat.postMessage", {"channel": channel, "text": headline, **QUIET}
            )
            mine = _thread(answer)
            if mine is None:
                return
            thread = await self.store.keep(after.repo_id, after.number, where, mine)
            if thread == mine:
                if heard.opening:
                    return  # the first message is the announcement
            else:
                # Another instance began the thread a moment before: ours goes, and the
                # change joins that thread.
                await self._call(token, "chat.delete", {"channel": mine.channel, "ts": mine.ts})
                await self._update(token, thread, headline)
        else:
            await self._update(token, thread, headline)
        reply = slack_change(after, heard.what, url)
        await self._call(
            token,
            "chat.postMessage",
            {"channel": thread.channel, "thread_ts": thread.ts, "text": reply, **QUIET},
        )

    async def _update(self, token: str, thread: Thread, headline: str) -> None:
        body = {"channel": thread.channel, "ts": thread.ts, "text": headline}
        await self._call(token, "chat.update", body)

    async def _call(self, token: str, method: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """One Web API call; its answer when Slack says `ok` (counted), None otherwise."""
        answer = await self.sender.post(
            BOT,
            f"{self.api}/{method}",
            body,
            hold=f"{BOT}:{token[-8:]}",  # a token's rate limit is its own
            headers={"Authorization": f"Bearer {token}"},
        )
        if answer is None:
            return None
        if answer.get("ok") is not True:
            # Slack answers 200 with its reason: channel_not_found, not_in_channel, ...
            log.warning("slack %s refused: %s", method, str(answer.get("error"))[:80])
            self.sender.count(BOT, "refused")
            return None
        self.sender.count(BOT, "sent")
        return answer


def _thread(answer: dict[str, Any] | None) -> Thread | None:
    if answer is None:
        return None
    channel, ts = answer.get("channel"), answer.get("ts")
    if isinstance(channel, str) and isinstance(ts, str) and channel and ts:
        return Thread(channel, ts)
    log.warning("slack chat.postMessage answered without a channel or ts")
    return None
