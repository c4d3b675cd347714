"""Catch-up: an incident whose plan did not finish is decided again, in its own queue."""

from __future__ import annotations

import json
import time

from app.queue.inbox import Envelope, Inbox
from app.service.routes import FOLLOW_UP_EVENT
from app.storage.bookkeeping import Bookkeeping
from app.storage.store import IncidentStore

CATCH_UP_EVERY = 300.0


class CatchUp:
    """A periodic job (run by the reminder lease holder) queuing a follow-up delivery for each
    incident whose plan was not saved; the worker decides it again (app/service/routes.py)."""

    def __init__(self, books: Bookkeeping, store: IncidentStore, inbox: Inbox) -> None:
        self.books = books
        self.store = store
        self.inbox = inbox

    async def __call__(self) -> list[str]:
        """Queue the unfinished; returns their "repo_id#number"s.

        The work runs in the worker, in the incident's own queue, so it can never interleave
        with a delivery for the same incident on any instance.
        """
        queued: list[str] = []
        bucket = int(time.time() // CATCH_UP_EVERY)  # at most one queued per incident per bucket
        for repo_id, number, installation_id in await self.books.due():
            incident = await self.store.load(repo_id, number)
            if incident is None:
                continue
            key = f"{repo_id}#{number}"
            payload = {
                "repository": {"id": repo_id, "full_name": incident.repo},
                "installation": {"id": installation_id},
                "number": number,
            }
            await self.inbox.store(
                Envelope(
                    delivery_id=f"follow-up:{key}:{bucket}",
                    event=FOLLOW_UP_EVENT,
                    action=None,
                    installation_id=installation_id,
                    repo=incident.repo,
                    issue_key=key,
                    payload=json.dumps(payload),
                )
            )
            queued.append(key)
        return queued
