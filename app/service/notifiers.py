"""Where incident changes are announced: the notifier interface and the channels in use.

A new channel is one module with a class that has `incident_changed` and `drain`, and a
`from_settings(settings, kit)` that returns it (or None when it cannot be used), registered
in CHANNELS below. Whether chat hears of a change is decided in the domain
(app/domain/chat.py, from the repo's `chat` config): a channel gets that answer, `heard`,
and only carries it out, through the kit's sender (background, bounded, never retried).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from app.domain.chat import Heard
from app.domain.records import Incident
from app.service import chat, json_webhook
from app.service.chat_post import Environment, Sender
from app.settings import Settings
from app.storage.chat_threads import ChatThreads


class Notifier(Protocol):
    async def incident_changed(
        self, before: Incident | None, after: Incident, heard: Heard | None
    ) -> None:
        """A saved change (`before` None: newly recorded); `heard`: what chat hears of it
        (None: chat stays quiet). Must not fail the delivery."""
        ...

    async def drain(self) -> None:
        """Finish or drop what is still being sent (shutdown and tests)."""
        ...


@dataclass(frozen=True)
class ChannelKit:
    """What the channels share: one sender (connection pool, counter, drain), the variables
    a repo config names, and the store of each incident's thread."""

    sender: Sender
    env: Environment
    threads: ChatThreads


Channel = Callable[[Settings, ChannelKit], Notifier | None]
CHANNELS: list[Channel] = [chat.from_settings, json_webhook.from_settings]


def channels(settings: Settings, kit: ChannelKit) -> list[Notifier]:
    """The channels in use, in registration order."""
    return [n for make in CHANNELS if (n := make(settings, kit)) is not None]
