"""Incidents first under floods: triage at receipt, lanes, fairness, order and exactly-once."""

import asyncio
import json
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import select, text

from app.domain.labels import LabelScheme
from app.domain.payloads import Event
from app.queue.inbox import INCIDENT, OTHER, UNRELATED, Envelope, Inbox
from app.queue.pg_writer import _PG_INSERT
from app.queue.worker import Worker
from app.queue.writing import InboxUnavailable
from app.service.triage import Triage
from app.storage.db import deliveries, incidents, utcnow
from tests.conftest import REPO, Harness, reset_postgres
from tests.test_inbox import Recorder, open_inbox


def envelope(n: int, issue: int | None, lane: int, installation: int = 1) -> Envelope:
    return Envelope(
        delivery_id=f"d-{n}",
        event="issues",
        action="labeled",
        installation_id=installation,
        repo="octo/ops",
        issue_key=f"7#{issue}" if issue is not None else None,
        payload="{}",
        lane=lane,
    )


async def rows(inbox: Inbox) -> dict[str, tuple[str, int, str | None]]:
    async with inbox.engine.connect() as conn:
        found = await conn.execute(
            select(
                deliveries.c.delivery_id,
                deliveries.c.state,
                deliveries.c.lane,
                deliveries.c.outcome,
            )
        )
        return {d: (state, lane, outcome) for d, state, lane, outcome in found}


# ---- triage: the lane told from the payload -----------------------------------------------


def event(labels: list[str], **extra: Any) -> Event:
    payload = {
        "action": "labeled",
        "issue": {"id": 1, "number": 5, "labels": [{"name": n} for n in labels]},
        "repository": {"id": 7, "full_name": "octo/ops"},
        "installation": {"id": 1},
        **extra,
    }
    return Event.model_validate(payload)


def test_triage_tells_incident_work_from_the_payload() -> None:
    renamed = LabelScheme(incident="outage", reported="outage:reported")
    known = Triage(lambda repo: renamed if repo == "octo/ops" else None)
    unknown = Triage()
    assert known.lane("issues", event(["bug"]), b"") == UNRELATED
    assert known.lane("issues", event(["Outage"]), b"") == INCIDENT  # the renamed label
    assert known.lane("issues", event(["outage:reported"]), b"") == INCIDENT
    assert known.lane("issues", event(["incident"]), b"") == INCIDENT  # the default, too
    # Stabilization work: its critical label holds (app/domain/work.py).
    assert known.lane("issues", event(["incident:stabilization"]), b"") == INCIDENT
    assert unknown.lane("issues", event(["incident:stabilization"]), b"") == INCIDENT
    assert known.lane("issues", event(["bug"], action="closed"), b"") == OTHER  # a retro?
    # A repo whose config this instance has not read: nothing is decided at receipt.
    assert unknown.lane("issues", event(["outage"]), b"") == OTHER
    assert unknown.lane("issues", event(["incident"]), b"") == INCIDENT
    command = {"action": "created", "comment": {"id": 9, "body": "ok\n/status stable"}}
    assert known.lane("issue_comment", event([], **command), b"") == INCIDENT
    chatter = {"action": "created", "comment": {"id": 9, "body": "looks like /status to me"}}
    assert known.lane("issue_comment", event([], **chatter), b"") == OTHER
    pull = event([])
    assert pull.issue is not None
    pull.issue.pull_request = {"url": "x"}
    assert known.lane("issues", pull, b"") == UNRELATED
    sub = event([], parent_issue={"id": 2, "number": 4, "labels": [{"name": "outage"}]})
    sub.sub_issue = sub.issue
    assert known.lane("sub_issues", sub, b"") == INCIDENT
    assert known.lane("installation", Event.model_validate({}), b"") == INCIDENT
    push = Event.model_validate({"repository": {"id": 7, "full_name": "octo/ops"}})
    assert known.lane("push", push, b'{"modified": [".github/incidents.yml"]}') == INCIDENT
    assert known.lane("push", push, b'{"modified": ["README.md"]}') == OTHER


# ---- the inbox: settled at receipt, lanes, per-issue order --------------------------------


async def test_unrelated_deliveries_are_settled_at_receipt_once(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    assert await inbox.store_verdict(envelope(1, 1, UNRELATED)) == "settled"
    assert await inbox.store_verdict(envelope(1, 1, UNRELATED)) == "duplicate"
    assert await inbox.store_verdict(envelope(2, None, UNRELATED)) == "settled"
    assert (await rows(inbox))["d-1"] == ("done", UNRELATED, "not an incident")
    assert inbox.settled_at_receipt == 2
    assert await inbox.claim("w", 10, 60) == []
    await inbox.engine.dispose()


async def test_a_settled_delivery_is_recorded_without_its_body(database_url: str) -> None:
    """Decided and recorded: the row keeps who, what and when, not the body nobody reads
    again; a delivery that is queued keeps its body whole."""
    inbox = await open_inbox(database_url)
    body = json.dumps({"issue": {"body": "x" * 10_000}})
    settled = Envelope("d-1", "issues", "labeled", 1, "octo/ops", "7#1", body, UNRELATED)
    queued = Envelope("d-2", "issues", "labeled", 1, "octo/ops", "7#2", body, INCIDENT)
    assert await inbox.store_verdict(settled) == "settled"
    assert await inbox.store_verdict(queued) == "queued"
    async with inbox.engine.connect() as conn:
        found = await conn.execute(
            select(deliveries.c.delivery_id, deliveries.c.payload, deliveries.c.event)
        )
        stored = {delivery_id: (payload, event) for delivery_id, payload, event in found}
    assert stored == {"d-1": ("", "issues"), "d-2": (body, "issues")}
    await inbox.engine.dispose()


async def test_a_delivery_queued_after_all_keeps_its_body_and_its_place(database_url: str) -> None:
    """An unrelated delivery whose issue has work queued is stored whole, in its issue's
    order, beside its batch's settled ones (on PostgreSQL its body is first held back:
    PgWriter sends it again once its issue turns out to have work)."""
    inbox = await open_inbox(database_url)
    body = json.dumps({"issue": {"body": "x" * 10_000}})

    def one(n: int, issue: int, lane: int) -> Envelope:
        return Envelope(f"d-{n}", "issues", "labeled", 1, "octo/ops", f"7#{issue}", body, lane)

    assert await inbox.store_verdict(one(1, 5, OTHER)) == "queued"  # issue 5 has work
    batch = [one(2, 5, UNRELATED), one(3, 6, UNRELATED), one(4, 5, OTHER), one(2, 5, UNRELATED)]
    verdicts = await asyncio.gather(*(inbox.store_soon(e) for e in batch))
    assert verdicts == ["queued", "settled", "queued", "duplicate"]
    assert await inbox.store_verdict(one(2, 5, UNRELATED)) == "duplicate"
    async with inbox.engine.connect() as conn:
        found = await conn.execute(
            select(deliveries.c.delivery_id, deliveries.c.payload).order_by(deliveries.c.seq)
        )
        stored = [(delivery_id, len(payload)) for delivery_id, payload in found]
    issue_5 = [(delivery_id, size) for delivery_id, size in stored if delivery_id != "d-3"]
    assert issue_5 == [("d-1", len(body)), ("d-2", len(body)), ("d-4", len(body))]
    assert ("d-3", 0) in stored
    order = []
    while claimed := await inbox.claim("w", 1, 60):
        order.append(claimed[0].delivery_id)
        assert claimed[0].payload == body
        await inbox.finish(claimed[0], "w", "ok")
    assert order == ["d-1", "d-2", "d-4"]
    await inbox.engine.dispose()


async def test_postgresql_is_not_sent_the_bodies_it_settles(postgres_url: str | None) -> None:
    """A batch of label traffic goes to PostgreSQL in one statement, without its bodies."""
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (allowed outside CI only)")
    await reset_postgres(postgres_url)
    inbox = await open_inbox(postgres_url)
    assert inbox._pg is not None
    conn = await inbox._pg._connection()
    sent: list[list[Any]] = []
    bodies: list[list[str | None]] = []

    class Spy:
        """The writer's connection, recording what each statement was sent."""

        def is_closed(self) -> bool:
            return bool(conn.is_closed())

        async def fetch(self, query: str, *args: Any) -> Any:
            sent.append(list(args[0]))
            bodies.append(list(args[6]))
            return await conn.fetch(query, *args)

    inbox._pg._conn = Spy()
    batch = [envelope(n, n, UNRELATED) for n in range(20)]
    verdicts = await asyncio.gather(*(inbox.store_soon(e) for e in batch))
    assert verdicts == ["settled"] * 20
    assert len(sent) == 1 and bodies == [[None] * 20]
    # With work on one issue, that issue's rows (only) go again, with their bodies.
    assert await inbox.store_verdict(envelope(100, 3, OTHER)) == "queued"
    sent.clear()
    bodies.clear()
    batch = [envelope(101, 3, UNRELATED), envelope(102, 4, UNRELATED)]
    assert await asyncio.gather(*(inbox.store_soon(e) for e in batch)) == ["queued", "settled"]
    assert bodies == [[None, None], ["{}"]] and sent == [["d-101", "d-102"], ["d-101"]]
    inbox._pg._conn = conn
    await inbox.engine.dispose()


async def test_a_batch_cut_between_its_two_statements_loses_nothing(
    postgres_url: str | None,
) -> None:
    """PostgreSQL gone between the batch's statements: the batch is answered 503, and
    GitHub's redelivery stores what the first statement did not, exactly once."""
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (allowed outside CI only)")
    import asyncpg

    await reset_postgres(postgres_url)
    inbox = await open_inbox(postgres_url)
    assert inbox._pg is not None
    assert await inbox.store_verdict(envelope(1, 5, OTHER)) == "queued"
    store = inbox._pg._store
    calls: list[int] = []

    async def cut(rows: list[dict[str, Any]], *args: Any, **kwargs: Any) -> list[Any]:
        calls.append(len(rows))
        if len(calls) == 2:
            raise asyncpg.InterfaceError("connection lost")
        return await store(rows, *args, **kwargs)

    inbox._pg._store = cut  # type: ignore[method-assign]
    batch = [envelope(2, 5, UNRELATED), envelope(3, 6, UNRELATED)]
    results = await asyncio.gather(*(inbox.store_soon(e) for e in batch), return_exceptions=True)
    assert all(isinstance(result, InboxUnavailable) for result in results), results
    assert calls == [2, 1]
    inbox._pg._store = store  # type: ignore[method-assign]
    again = await asyncio.gather(*(inbox.store_soon(e) for e in batch))
    assert again == ["queued", "duplicate"]
    assert set(await rows(inbox)) == {"d-1", "d-2", "d-3"}
    await inbox.engine.dispose()


async def test_deliveries_received_in_one_turn_share_one_receipt_time(database_url: str) -> None:
    """uvloop reads the clock once a turn of its loop: the deliveries of one turn are one
    batch with one received_at (rendered once), and a settle delay is added once."""
    inbox = await open_inbox(database_url)
    loop = asyncio.get_running_loop()
    turn = [1.0]
    loop.time = lambda: turn[0]  # type: ignore[method-assign]
    try:
        first = inbox.store_soon(envelope(1, 1, INCIDENT))
        second = inbox.store_soon(envelope(2, 2, INCIDENT), delay=1.5)
        turn[0] = 2.0
        third = inbox.store_soon(envelope(3, 3, INCIDENT))
        assert await asyncio.gather(first, second, third) == ["queued"] * 3
    finally:
        del loop.time  # type: ignore[method-assign]
    async with inbox.engine.connect() as conn:
        found = await conn.execute(
            select(deliveries.c.delivery_id, deliveries.c.received_at, deliveries.c.available_at)
        )
        times = {d: (received, available) for d, received, available in found}
    assert times["d-1"][0] == times["d-2"][0] == times["d-1"][1]
    assert (times["d-2"][1] - times["d-2"][0]).total_seconds() == 1.5
    assert times["d-3"][0] >= times["d-1"][0]
    await inbox.engine.dispose()


async def test_the_postgresql_store_finds_each_issue_by_its_key(postgres_url: str | None) -> None:
    """Known incidents and queued work are looked up per row over their indexes: a batch's
    cost does not grow with the incidents on record or the deliveries still queued."""
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (allowed outside CI only)")
    await reset_postgres(postgres_url)
    inbox = await open_inbox(postgres_url)
    async with inbox.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO incidents (repo, repo_id, number, title, status, managed,"
                " declared_at, declared_by, updated_at) SELECT 'octo/ops', 9, g, 't',"
                " 'resolved', true, now(), 'a', now() FROM generate_series(1, 3000) g"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO deliveries (delivery_id, event, installation_id, repo, issue_key,"
                " payload, received_at, state, attempts, abandoned, available_at, lane)"
                " SELECT 'p' || g, 'issues', 1, 'octo/ops', '9#' || g, '{}', now(),"
                " 'pending', 0, 0, now(), 1 FROM generate_series(1, 3000) g"
            )
        )
        await conn.execute(text("ANALYZE"))
        now = utcnow().replace(tzinfo=None)
        rows = 16
        columns: list[list[Any]] = [[f"d-{n}" for n in range(rows)], ["issues"] * rows]
        columns += [["labeled"] * rows, [1] * rows, ["octo/ops"] * rows]
        columns += [[f"7#{n}" for n in range(rows)], ["{}"] * rows, [now] * rows, [now] * rows]
        columns += [[UNRELATED] * rows, [7] * rows, list(range(rows)), []]
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        # The plan a prepared statement settles on after its first runs (not one batch's).
        explain = await driver.prepare("EXPLAIN " + _PG_INSERT)
        for _ in range(8):
            plan = "\n".join(row[0] for row in await explain.fetch(*columns))
    decided = plan[plan.index("CTE decided") : plan.index("CTE promoted")]
    assert "Seq Scan" not in decided and "hashed" not in decided, plan
    assert "uq_incident_issue" in decided and "ix_deliveries_unfinished" in decided, plan
    await inbox.engine.dispose()


async def test_unrelated_delivery_of_a_known_incident_is_incident_work(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    now = utcnow()
    async with inbox.engine.begin() as conn:
        await conn.execute(
            incidents.insert().values(
                repo="octo/ops",
                repo_id=7,
                number=3,
                title="t",
                status="stabilization-pending",
                managed=True,
                declared_at=now,
                declared_by="alice",
                updated_at=now,
            )
        )
    # Repo 7 issue 4 and repo 8 issue 3 are not the incident: repo and number go together.
    assert await inbox.store_verdict(envelope(1, 3, UNRELATED)) == "queued"
    assert await inbox.store_verdict(envelope(2, 4, UNRELATED)) == "settled"
    other_repo = Envelope("d-3", "issues", "labeled", 1, "octo/web", "8#3", "{}", UNRELATED)
    assert await inbox.store_verdict(other_repo) == "settled"
    assert (await rows(inbox))["d-1"] == ("pending", INCIDENT, None)
    await inbox.engine.dispose()


async def test_incident_work_is_claimed_before_a_flood_of_other_work(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    for n in range(40):
        await inbox.store(envelope(n, 100 + n, OTHER))
    await inbox.store(envelope(99, 5, INCIDENT))
    claimed = await inbox.claim("w", 1, 60)
    assert [d.delivery_id for d in claimed] == ["d-99"]
    assert claimed[0].lane == INCIDENT
    await inbox.engine.dispose()


async def test_incident_work_never_overtakes_its_issue_and_promotes_it(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    for n in range(10):
        await inbox.store(envelope(n, 100 + n, OTHER))  # a flood on other issues
    await inbox.store(envelope(20, 5, OTHER))  # issue 5: a comment, say
    # Pending work on issue 5: an unrelated delivery queues behind it, it is not settled.
    assert await inbox.store_verdict(envelope(21, 5, UNRELATED)) == "queued"
    await inbox.store(envelope(22, 5, INCIDENT))  # then issue 5 becomes an incident
    state = await rows(inbox)
    assert [state[f"d-{n}"][1] for n in (20, 21, 22)] == [INCIDENT] * 3  # promoted
    order = []
    while batch := await inbox.claim("w", 1, 60):
        order.append(batch[0].delivery_id)
        await inbox.finish(batch[0], "w", "ok")
    assert order[:3] == ["d-20", "d-21", "d-22"]  # first, and in the issue's order
    assert len(order) == 13
    await inbox.engine.dispose()


async def test_a_noisy_installation_cannot_starve_another(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    for n in range(30):  # installation 1: thirty incident-lane issues, all older
        await inbox.store(envelope(n, 100 + n, INCIDENT, installation=1))
    await inbox.store(envelope(50, 7, INCIDENT, installation=2))
    await inbox.store(envelope(51, 8, OTHER, installation=3))
    claimed = await inbox.claim("w", 2, 60)
    assert {d.delivery_id for d in claimed} == {"d-0", "d-50"}
    await inbox.engine.dispose()


async def test_two_instances_with_lanes_process_everything_once_in_order(
    database_url: str,
) -> None:
    first, second = await open_inbox(database_url), await open_inbox(database_url)
    lanes = (INCIDENT, OTHER, UNRELATED, OTHER, UNRELATED)
    verdicts = {}
    for n in range(150):
        target = first if n % 2 else second
        # Issues 0-9 also get unrelated deliveries: queued behind their work, or settled.
        verdicts[n] = await target.store_verdict(envelope(n, n % 10, lanes[n % 5], n % 3))
    recorder = Recorder()
    workers = [
        Worker(first, recorder.handler("a"), concurrency=5, worker_id="a"),
        Worker(second, recorder.handler("b"), concurrency=5, worker_id="b"),
    ]
    await asyncio.gather(*(w.run_until_idle(timeout=60) for w in workers))
    state = await rows(first)
    queued = {n for n, verdict in verdicts.items() if verdict == "queued"}
    handled = [seq for _, seq, _ in recorder.handled]
    assert len(handled) == len(set(handled)) == len(queued), "each processed exactly once"
    assert all(state[f"d-{n}"][0] == "done" for n in range(150))
    assert recorder.overlaps == 0
    per_issue = defaultdict(list)
    for key, seq, _ in recorder.handled:
        per_issue[key].append(seq)
    assert all(s == sorted(s) for s in per_issue.values()), "per-issue order kept"
    await first.engine.dispose()
    await second.engine.dispose()


# ---- through the receiver ------------------------------------------------------------------


async def test_flood_of_unrelated_labels_is_settled_and_the_incident_goes_first(
    harness: Harness,
) -> None:
    fake = harness.fake
    # The first unrelated delivery reads the repo's config: from then on, it is known.
    plain, events = fake.open_issue(REPO, labels=["bug"])
    await harness.run(events)
    assert harness.services.triage.names(REPO) is not None
    answers = []
    for n in range(30):
        payload = json.loads(json.dumps(events[0][1]))
        payload["action"] = "labeled"
        payload["label"] = {"name": f"triage-{n}"}
        answers.append((await harness.post("issues", payload)).json()["message"])
    assert answers == ["stored; not about an incident"] * 30
    issue, declared = fake.open_issue(REPO, labels=["incident", "severity:1"])
    await harness.send(declared)
    worker = harness.services.worker
    assert worker is not None
    claimed = await harness.services.inbox.claim(worker.worker_id, 1, 60)
    assert claimed and claimed[0].issue_key == f"{fake.repo(REPO).id}#{issue.number}"
    await harness.services.inbox.release_all()
    await harness.settle()
    assert await harness.record(issue.number) is not None
    assert await harness.record(plain.number) is None
    metrics = (await harness.client.get("/metrics")).text
    assert 'incident_flow_inbox_lane_depth{lane="incident"} 0.0' in metrics
    assert 'incident_flow_inbox_lane_oldest_age_seconds{lane="other"}' in metrics
    assert 'incident_flow_deliveries_finished_total{by="receipt"} 30.0' in metrics
    assert "incident_flow_deliveries_finished_per_second" in metrics


async def test_a_renamed_incident_label_is_incident_work_and_a_push_forgets_names(
    harness: Harness,
) -> None:
    fake = harness.fake
    config = ".github/incidents.yml"
    fake.repo(REPO).files[config] = "labels:\n  incident: 'ops incident'\n"
    plain, events = fake.open_issue(REPO, labels=["bug"])
    await harness.run(events)  # the config is read: `ops incident` is this repo's label
    names = harness.services.triage.names(REPO)
    assert names is not None and "ops incident" in names
    issue, declared = fake.open_issue(REPO, labels=["ops incident", "severity:2"])
    answer = await harness.post(*declared[0])
    assert answer.json()["message"] == "queued"
    await harness.settle()
    assert await harness.record(issue.number) is not None
    # A push of the config: its names may change, so nothing is decided at receipt until
    # the worker reads it again.
    push = fake.push_file(REPO, config, "labels:\n  incident: 'outage'\n")
    await harness.send(push)
    assert harness.services.triage.names(REPO) is None
    relabel = fake.label(REPO, plain.number, add=["outage"])
    await harness.send(relabel)
    await harness.settle()
    assert await harness.record(plain.number) is not None
