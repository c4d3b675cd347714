"""Retention: finished deliveries older than the window are deleted; nothing else is."""

from datetime import timedelta

import httpx
import pytest

from app.queue.retention import kept_for, prune_once
from app.service.services import build_services
from app.settings import Settings
from app.storage.db import utcnow
from tests.test_inbox import envelope, fill, open_inbox


async def test_prune_deletes_only_finished_deliveries_past_the_window(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 12, 12)  # one delivery per issue: all claimable at once
    claimed = await inbox.claim("w", 12, 60)
    done, dead, in_flight = claimed[:6], claimed[6:8], claimed[8:10]
    for delivery in done:
        await inbox.finish(delivery, "w", "ok")
    for delivery in dead:
        await inbox.bury(delivery, "w", "boom")
    assert in_flight and await inbox.counts() == {"done": 6, "dead": 2, "processing": 4}
    # Nothing has finished a day ago yet: a day's window keeps everything.
    assert await prune_once(inbox, timedelta(days=1)) == 0
    # Everything finished "before now + 1 s": the finished go, in batches; the rest stay.
    assert await inbox.prune(utcnow() + timedelta(seconds=1), batch=3) == 8
    assert await inbox.counts() == {"processing": 4}
    assert await inbox.known([f"d-{n}" for n in range(12)]) == {d.delivery_id for d in claimed[8:]}
    # A pruned delivery's id is free again: GitHub's redelivery of it would be stored anew,
    # which is why the window never ends inside the redelivery window.
    assert await inbox.store(envelope(0, 0))
    await inbox.engine.dispose()


def test_the_window_is_never_shorter_than_redelivery() -> None:
    assert kept_for(30, 72) == timedelta(days=30)
    assert kept_for(1, 72) == timedelta(hours=72)
    assert kept_for(0, 72) is None  # keep everything
    with pytest.raises(ValueError, match="keep every delivery"):
        Settings(_env_file=None, delivery_retention_days=-1)  # type: ignore[call-arg]


async def test_the_service_prunes_unless_told_to_keep_everything(settings_for, fake) -> None:  # type: ignore[no-untyped-def]
    for retention, tasks in ((30.0, ["redelivery", "retention"]), (0.0, ["redelivery"])):
        services = await build_services(
            settings_for(delivery_retention_days=retention),
            github_transport=httpx.ASGITransport(app=fake),
            start_worker=True,
        )
        try:
            assert [t.get_name() for t in services.background] == tasks
        finally:
            await services.close()
