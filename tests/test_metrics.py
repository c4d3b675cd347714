"""/metrics: the series the operator watches, fed by real deliveries through the fake."""

import json
import logging

import pytest

from app.logs import JsonFormatter, delivery_fields
from app.queue.inbox import Delivery
from app.web.metrics import route_of
from tests.conftest import Harness


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/repos/octo/ops/issues/12/labels", "/repos/{owner}/{repo}/issues/{id}/labels"),
        (
            "/repos/octo/ops/issues/12/labels/a%20b",
            "/repos/{owner}/{repo}/issues/{id}/labels/{name}",
        ),
        ("/app/installations/100/access_tokens", "/app/installations/{id}/access_tokens"),
        (
            "/api/v3/repos/o/r/collaborators/bob/permission",
            "/repos/{owner}/{repo}/collaborators/{user}/permission",
        ),
        ("/repos/o/r/contents/.github/incidents.yml", "/repos/{owner}/{repo}/contents/{path}"),
    ],
)
def test_route_of(path: str, route: str) -> None:
    assert route_of(path, "/api/v3") == route


def sample(text: str, metric: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith((metric + "{", metric + " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_after_a_lifecycle(harness: Harness) -> None:
    issue, events = harness.fake.open_issue("octo/ops", labels=["incident", "severity:1"])
    await harness.run(events)
    await harness.echo()
    await harness.run(
        harness.fake.label("octo/ops", issue.number, add=["status:resolved"])  # illegal
    )
    await harness.run(
        harness.fake.label(
            "octo/ops",
            issue.number,
            add=["status:stabilized"],
            remove=["status:stabilization-pending"],
        )
    )
    harness.fake.fail("GET", r"/issues/\d+$", 500, times=10)
    await harness.send(harness.fake.label("octo/ops", issue.number, add=["severity:2"]))
    await harness.settle()
    text = (await harness.client.get("/metrics")).text

    assert sample(text, "incident_flow_deliveries_received_total", event="issues") >= 4
    assert sample(text, "incident_flow_deliveries_processed_total", event="issues") >= 4
    assert sample(text, "incident_flow_deliveries_failed_total", event="issues") == 1
    assert (
        sample(
            text,
            "incident_flow_transitions_total",
            from_status="stabilization-pending",
            to_status="stabilized",
        )
        == 1
    )
    assert sample(text, "incident_flow_transitions_total", from_status="none") == 1
    assert sample(text, "incident_flow_reverts_total") == 1
    assert (
        sample(
            text,
            "incident_flow_github_calls_total",
            route="/repos/{owner}/{repo}/issues/{id}",
            status="500",
        )
        >= 1
    )
    assert sample(text, "incident_flow_inbox_depth") == 1  # the failed one waits for its retry
    assert sample(text, "incident_flow_inbox_oldest_age_seconds") >= 0
    assert sample(text, "incident_flow_processing_seconds_count", event="issues") >= 5
    assert "incident_flow_github_rate_limit_remaining" in text


async def test_duplicates_and_commands_are_counted(harness: Harness) -> None:
    issue, events = harness.fake.open_issue("octo/ops", labels=["incident", "severity:2"])
    await harness.run(events)
    comment = harness.fake.comment("octo/ops", issue.number, "/help")
    await harness.post(*comment[0], delivery_id="same")
    await harness.post(*comment[0], delivery_id="same")
    await harness.settle()
    text = (await harness.client.get("/metrics")).text
    assert sample(text, "incident_flow_deliveries_received_total", duplicate="true") == 1
    assert sample(text, "incident_flow_commands_total", name="help") == 1


async def test_rate_limit_remaining_is_kept(harness: Harness) -> None:
    harness.fake.fail(
        "GET",
        r"/issues/\d+$",
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "9999999999"},
    )
    _issue, events = harness.fake.open_issue("octo/ops", labels=["incident"])
    await harness.run(events)
    text = (await harness.client.get("/metrics")).text
    assert sample(text, "incident_flow_github_rate_limit_remaining") == 0


def test_log_line_names_delivery_repo_and_issue() -> None:
    payload = {"repository": {"full_name": "octo/ops"}, "issue": {"number": 7}}
    delivery = Delivery(1, "d-1", "issues", "labeled", 1, "1#7", json.dumps(payload), None, 1)  # type: ignore[arg-type]
    fields = delivery_fields(delivery)
    record = logging.LogRecord("app.queue.worker", logging.INFO, "", 0, "processed", (), None)
    for key, value in {**fields, "outcome": "in step", "duration_ms": 3.2}.items():
        setattr(record, key, value)
    line = json.loads(JsonFormatter().format(record))
    assert line | {"time": None} == {
        "time": None,
        "level": "info",
        "logger": "app.queue.worker",
        "message": "processed",
        "delivery_id": "d-1",
        "event": "issues",
        "repo": "octo/ops",
        "issue": 7,
        "outcome": "in step",
        "duration_ms": 3.2,
    }


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        pytest.param(None, 401, id="none"),
        pytest.param("Bearer wrong", 401, id="wrong-token"),
        pytest.param("Bearer s3cret-scrape-token-extra", 401, id="longer-token"),
        pytest.param("Basic czNjcmV0", 401, id="basic"),
        pytest.param("s3cret-scrape-token", 401, id="no-scheme"),
        pytest.param("Bearer s3cret-scrape-token", 200, id="bearer"),
        pytest.param("bearer s3cret-scrape-token", 200, id="bearer-any-case"),
    ],
)
async def test_metrics_token_guards_the_counts(
    harness_for,  # type: ignore[no-untyped-def]
    authorization: str | None,
    status: int,
) -> None:
    harness: Harness = await harness_for(metrics_token="s3cret-scrape-token")
    headers = {"Authorization": authorization} if authorization else {}
    response = await harness.client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 200:
        assert "incident_flow_deliveries_received_total" in response.text
    else:
        assert "incident_flow" not in response.text
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_metrics_are_open_without_a_token(harness: Harness) -> None:
    assert harness.services.settings.metrics_token is None
    response = await harness.client.get("/metrics")
    assert response.status_code == 200
