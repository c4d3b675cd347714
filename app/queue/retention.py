"""Retention: finished deliveries are deleted after a while, so the database stops growing."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from app.queue.inbox import Inbox
from app.storage.db import utcnow

log = logging.getLogger(__name__)


def kept_for(retention_days: float, redeliver_since_hours: float) -> timedelta | None:
    """How long a finished delivery is kept; None keeps them all.

    Never less than the redelivery window: a delivery GitHub still lists must be known here,
    or the next redelivery round would ask for it again.
    """
    if retention_days <= 0:
        return None
    return max(timedelta(days=retention_days), timedelta(hours=redeliver_since_hours))


async def prune_once(inbox: Inbox, keep: timedelta) -> int:
    deleted = await inbox.prune(utcnow() - keep)
    if deleted:
        log.info("retention: %d finished deliveries deleted", deleted, extra={"deleted": deleted})
    return deleted


async def keep_pruning(inbox: Inbox, keep: timedelta, every: float = 3600.0) -> None:
    """At start-up and then every `every` seconds; a failed round is logged and retried later."""
    while True:
        try:
            await prune_once(inbox, keep)
        except Exception:
            log.exception("retention round failed")
        await asyncio.sleep(every)
