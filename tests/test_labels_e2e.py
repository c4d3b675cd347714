"""End to end through the ASGI app and the fake GitHub: the lifecycle driven by labels."""

import pytest

from tests.conftest import REPO, RS, SP, ST, UI, Harness


async def declare(harness: Harness, *labels: str) -> int:
    issue, events = harness.fake.open_issue(REPO, labels=["incident", "severity:1", *labels])
    await harness.run(events)
    await harness.echo()
    return issue.number


async def test_declare_by_label(harness: Harness) -> None:
    number = await declare(harness)
    assert harness.labels(number) == {"incident", "severity:1", SP}
    incident = await harness.record(number)
    assert incident.status.value == "stabilization-pending"
    assert incident.declared_at == harness.fake.issue(REPO, number).created_at


async def test_declare_without_severity_asks_for_one(harness: Harness) -> None:
    issue, events = harness.fake.open_issue(REPO, labels=["incident"])
    await harness.run(events)
    assert len(harness.bot_comments(issue.number)) == 1
    await harness.run(harness.fake.label(REPO, issue.number, add=["severity:2"]))
    assert (await harness.record(issue.number)).severity == 2


@pytest.mark.parametrize("order", ["labeled-first", "unlabeled-first"])
async def test_legal_move_in_either_order(harness: Harness, order: str) -> None:
    number = await declare(harness)
    events = harness.fake.label(REPO, number, add=[ST], remove=[SP])
    if order == "unlabeled-first":
        events.reverse()
    await harness.run(events)
    assert harness.labels(number) == {"incident", "severity:1", ST}
    assert (await harness.record(number)).status.value == "stabilized"
    assert harness.bot_comments(number) == []


async def test_legal_move_adding_only_the_new_label(harness: Harness) -> None:
    number = await declare(harness)
    await harness.run(harness.fake.label(REPO, number, add=[ST]))
    assert harness.labels(number) == {"incident", "severity:1", ST}


async def test_illegal_move_reverted_with_exactly_one_comment(harness: Harness) -> None:
    number = await declare(harness)
    await harness.run(harness.fake.label(REPO, number, add=[RS], remove=[SP]))
    assert harness.labels(number) == {"incident", "severity:1", SP}
    comments = harness.bot_comments(number)
    assert len(comments) == 1
    assert "Stabilization pending" in comments[0] and "Stabilized" in comments[0]
    assert (await harness.record(number)).status.value == "stabilization-pending"
    # The revert's own echoes change nothing more.
    writes = len(harness.fake.writes())
    assert await harness.echo() > 0
    assert len(harness.fake.writes()) == writes
    assert len(harness.bot_comments(number)) == 1


async def test_removed_status_restored(harness: Harness) -> None:
    number = await declare(harness)
    await harness.run(harness.fake.label(REPO, number, remove=[SP]))
    assert SP in harness.labels(number)
    assert len(harness.bot_comments(number)) == 1


async def test_severity_change_replaces_the_old_label(harness: Harness) -> None:
    number = await declare(harness)
    await harness.run(harness.fake.label(REPO, number, add=["severity:2"]))
    assert harness.labels(number) == {"incident", "severity:2", SP}
    incident = await harness.record(number)
    assert incident.severity == 2
    assert incident.timeline[-1].kind == "severity"


async def test_false_alarm_withdrawn_and_resumed(harness: Harness) -> None:
    number = await declare(harness)
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    await harness.run(harness.fake.label(REPO, number, remove=["incident"]))
    assert harness.labels(number) == {"severity:1"}
    assert not (await harness.record(number)).managed
    await harness.run(harness.fake.label(REPO, number, add=["incident"]))
    assert harness.labels(number) == {"incident", "severity:1", ST}
    kinds = [e.kind for e in (await harness.record(number)).timeline]
    assert kinds == ["declared", "lead", "status", "withdrawn", "resumed"]


async def test_duplicate_delivery_processed_once(harness: Harness) -> None:
    number = await declare(harness)
    ((event, payload),) = harness.fake.label(REPO, number, add=[RS])
    for _ in range(3):
        response = await harness.post(event, payload, delivery_id="same-guid")
        assert response.status_code in (200, 202)
    await harness.settle()
    assert len(harness.bot_comments(number)) == 1


async def test_echo_causes_no_writes(harness: Harness) -> None:
    number = await declare(harness)
    await harness.run(harness.fake.label(REPO, number, add=[RS]))
    echoes = harness.fake.take_echoes()
    assert echoes, "the revert should have produced echoes"
    before = len(harness.fake.calls)
    await harness.send(echoes)
    await harness.settle()
    assert [c for c in harness.fake.calls[before:] if c.is_write] == []


async def test_adopts_an_incident_seen_for_the_first_time(harness: Harness) -> None:
    issue = harness.fake.add_issue(REPO, labels=["incident", "severity:2", UI])
    await harness.run(harness.fake.label(REPO, issue.number, add=["bug"]))
    incident = await harness.record(issue.number)
    assert incident.status.value == "under-investigation" and incident.severity == 2
    assert [c for c in harness.fake.writes() if "/labels" in c.path] == []


async def test_label_names_with_spaces_slashes_and_emoji(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for()
    number = await declare(harness)
    odd = "area/db ops 🟥"
    harness.fake.issue(REPO, number).labels.append(odd)
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    await harness.services.github.installation(100).remove_label(REPO, number, odd)
    assert odd not in harness.labels(number)


async def test_502_and_rate_limits_retried_without_duplicate_comments(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for(max_inline_wait_seconds=2.0)
    number = await declare(harness)
    fake = harness.fake
    # The comment POST "fails" after GitHub stored it: the retry must find it, not repost.
    original = fake.create_comment

    async def stored_then_502(request):  # type: ignore[no-untyped-def]
        await original(request)
        from starlette.responses import JSONResponse

        fake.create_comment = original  # type: ignore[method-assign]
        return JSONResponse({"message": "Bad gateway"}, 502)

    fake.create_comment = stored_then_502  # type: ignore[method-assign]
    fake.app = type(fake.app)(routes=fake._routes())
    fake.fail("GET", r"/issues/\d+$", 502, times=2)
    fake.fail("DELETE", r"/labels/", 403, headers={"retry-after": "0"}, times=1)
    fake.fail(
        "POST",
        r"/labels$",
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"},
        times=1,
    )
    await harness.run(fake.label(REPO, number, add=[RS], remove=[SP]))
    assert harness.labels(number) == {"incident", "severity:1", SP}
    assert len(harness.bot_comments(number)) == 1


async def test_long_outage_defers_the_delivery_and_converges_later(harness: Harness) -> None:
    number = await declare(harness)
    harness.fake.fail("GET", r"/issues/\d+$", 503, times=100)
    await harness.send(harness.fake.label(REPO, number, add=[RS]))
    await harness.settle()  # the delivery goes back to the inbox with a later time
    counts = await harness.services.inbox.counts()
    assert counts.get("pending") == 1 and "dead" not in counts
    harness.fake.faults.clear()
    await harness.backoff_passes()
    await harness.settle()
    assert harness.labels(number) == {"incident", "severity:1", SP}
    assert len(harness.bot_comments(number)) == 1


async def test_deleted_issue_is_done_not_retried(harness: Harness) -> None:
    number = await declare(harness)
    events = harness.fake.label(REPO, number, add=[RS])
    del harness.fake.repos[REPO].issues[number]
    await harness.run(events)
    assert set(await harness.services.inbox.counts()) == {"done"}


async def test_ordinary_issues_cost_no_github_calls(harness: Harness) -> None:
    issue, events = harness.fake.open_issue(REPO, labels=["bug"])
    await harness.run(events + harness.fake.label(REPO, issue.number, add=["docs"]))
    assert [c for c in harness.fake.calls if "/issues/" in c.path] == []
    await harness.run(harness.fake.label(REPO, issue.number, add=["incident", "severity:3"]))
    assert harness.labels(issue.number) == {"bug", "docs", "incident", "severity:3", SP}


async def test_a_revert_costs_three_writes_and_shows_in_the_status_comment_at_the_next_edit(
    harness: Harness,
) -> None:
    number = await declare(harness)

    def status_comment():  # type: ignore[no-untyped-def]
        return next(
            c for c in harness.fake.comments_on(REPO, number) if "Incident status" in c.body
        )

    before = len(harness.fake.writes())
    await harness.run(harness.fake.label(REPO, number, add=[RS], remove=[SP]))
    writes = [f"{c.method} {c.path}" for c in harness.fake.writes()[before:]]
    # Remove the wrong label, put the recorded one back, say why: the status comment shows
    # nothing that changed, so it is not edited for a revert.
    assert len(writes) == 3, writes
    assert not any(w.startswith("PATCH") for w in writes)
    assert "Reverted" not in status_comment().body
    await harness.echo()
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))  # legal
    status_body = status_comment().body
    assert "Reverted" in status_body and "Stabilized" in status_body
