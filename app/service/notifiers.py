"""Where incident changes are announced: the notifier interface and the channels in use.

A new channel is one module with a class that has `incident_changed` and `drain`, and a
`from_settings(settings)` that returns it (or None when it is not configured), registered
in CHANNELS below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from app.domain.records import Incident
from app.service import chat
from app.settings import Settings


class Notifier(Protocol):
    async def incident_changed(self, before: Incident | None, after: Incident) -> None:
        """A saved change (`before` None: newly recorded). Must not fail the delivery."""
        ...

    async def drain(self) -> None:
        """Finish or drop what is still being sent (shutdown and tests)."""
        ...


CHANNELS: list[Callable[[Settings], Notifier | None]] = [chat.from_settings]


def channels(settings: Settings) -> list[Notifier]:
    """The configured channels, in registration order."""
    return [n for make in CHANNELS if (n := make(settings)) is not None]
