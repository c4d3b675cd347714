"""The command line through typer's runner, against the fake GitHub and a real database."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app import cli
from app.queue.inbox import Envelope, Inbox
from app.sandbox.github import FakeGitHub
from app.settings import Settings
from app.storage.db import create_schema
from app.storage.engine import make_engine
from app.storage.store import IncidentStore
from tests.seed import PUBLIC, seed

runner = CliRunner()


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, settings_for, fake: FakeGitHub) -> Settings:  # type: ignore[no-untyped-def]
    settings: Settings = settings_for()
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    monkeypatch.setattr(cli, "github_transport", httpx.ASGITransport(app=fake))
    return settings


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli.cli, list(args))
    return result.exit_code, result.output


def save(tmp_path: Path, payload: dict[str, object], name: str = "payload.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(payload))
    return str(path)


def test_replay_dry_run_prints_the_plan_and_calls_nobody(
    configured: Settings, fake: FakeGitHub, tmp_path: Path
) -> None:
    _issue, events = fake.open_issue(PUBLIC, labels=["incident", "severity:1"])
    code, out = run("replay", save(tmp_path, events[0][1]), "--event", "issues", "--dry-run")
    assert code == 0, out
    assert "issues opened by alice" in out
    assert "labels: incident, severity:1" in out
    assert "add labels status:stabilization-pending" in out
    assert "declared: Recorded as Stabilization pending, severity 1" in out
    assert "dry run: no GitHub call" in out
    assert fake.calls == []


def test_replay_reads_the_issue_now_and_changes_nothing(
    configured: Settings, fake: FakeGitHub, tmp_path: Path
) -> None:
    issue, events = fake.open_issue(PUBLIC, labels=["incident"])
    issue.labels.append("severity:2")  # changed since the delivery: the replay reads it
    code, out = run("replay", save(tmp_path, events[0][1]), "--event", "issues")
    assert code == 0, out
    assert "labels: incident, severity:2" in out
    assert "severity 2" in out
    assert fake.calls and fake.writes() == []


def test_replay_of_an_outsiders_issue_shows_a_report(
    configured: Settings, fake: FakeGitHub, tmp_path: Path
) -> None:
    _issue, events = fake.open_issue(PUBLIC, labels=["incident", "severity:1"], actor="rita")
    code, out = run("replay", save(tmp_path, events[0][1]), "--event", "issues")
    assert code == 0, out
    assert "reported" in out and "incident:reported" in out
    assert fake.writes() == []


def test_replay_a_command_comment(configured: Settings, fake: FakeGitHub, tmp_path: Path) -> None:
    issue, _ = fake.open_issue(PUBLIC, labels=["bug"])
    comment = fake.comment(PUBLIC, issue.number, "Looks bad.\n/incident 1")
    code, out = run(
        "replay", save(tmp_path, comment[0][1]), "--event", "issue_comment", "--dry-run"
    )
    assert code == 0, out
    assert "add labels" in out and "severity:1" in out
    assert "taken to have triage permission" in out


def test_replay_of_an_installation_lists_the_label_changes(
    configured: Settings, fake: FakeGitHub, tmp_path: Path
) -> None:
    events = fake.installation_event([PUBLIC])
    code, out = run("replay", save(tmp_path, events[0][1]), "--event", "installation")
    assert code == 0, out
    assert "octo/ops: would have created status:stabilized" in out
    assert fake.writes() == []


def test_replay_needs_the_app_unless_dry(
    monkeypatch: pytest.MonkeyPatch,
    settings_for,
    fake: FakeGitHub,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(cli, "load_settings", lambda: settings_for(app_id=None, private_key=None))
    _issue, events = fake.open_issue(PUBLIC, labels=["incident"])
    code, out = run("replay", save(tmp_path, events[0][1]), "--event", "issues")
    assert code == 2
    assert "--dry-run" in out


def test_sync_labels(configured: Settings, fake: FakeGitHub) -> None:
    fake.repo(PUBLIC).labels["bug"] = {"id": 1, "name": "bug", "color": "f00", "description": ""}
    code, out = run("sync-labels", PUBLIC)
    assert code == 0, out
    assert "created incident (#d93f0b)" in out
    assert fake.repo(PUBLIC).labels["bug"]["color"] == "f00"
    code, out = run("sync-labels", PUBLIC)
    assert out.strip() == "octo/ops: labels already in step"
    assert run("sync-labels", "not-a-repo")[0] == 2


def test_incidents_table(configured: Settings, fake: FakeGitHub) -> None:
    async def seed_database() -> None:
        engine = make_engine(configured.async_database_url)
        await create_schema(engine)
        await seed(IncidentStore(engine), fake, datetime.now(UTC))
        await engine.dispose()

    asyncio.run(seed_database())
    code, out = run("incidents", PUBLIC)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["#", "SEV", "STATUS", "FOR", "LEAD", "RECORDED", "(UTC)", "TITLE"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "5", "4", "3"]
    assert "Payment" not in out  # another repository's
    same = run("incidents", "Octo/OPS")[1].splitlines()  # GitHub names ignore case
    assert [line.split()[0] for line in same] == [line.split()[0] for line in lines]
    assert run("incidents", "octo/none")[1].strip() == "no incidents recorded"


def test_incidents_leads_prints_lead_duty(configured: Settings, fake: FakeGitHub) -> None:
    async def seed_database() -> None:
        engine = make_engine(configured.async_database_url)
        await create_schema(engine)
        await seed(IncidentStore(engine), fake, datetime.now(UTC))
        await engine.dispose()

    asyncio.run(seed_database())
    code, out = run("incidents", "leads")
    assert code == 0, out
    month, quarter, year = out.strip().split("\n\n")
    assert month.splitlines()[0] == "last 30 days (per severity: incidents / hours led)"
    assert month.splitlines()[1].split() == [
        "LEAD", "INCIDENTS", "HOURS", "SEV", "1", "SEV", "2", "SEV", "3", "NO", "SEV"
    ]  # fmt: skip
    rows = {line.split()[0]: line.split()[1:] for line in month.splitlines()[2:]}
    # Every repository (the operator's view): carol's private incident, open for 5 hours.
    assert rows["bob"] == ["1", "20.0", "-", "1", "/", "20.0", "-", "-"]
    assert rows["carol"][:2] == ["1", "5.0"]
    assert "carol" in quarter and year.startswith("last 365 days")
    code, out = run("incidents", "leads", "Octo/OPS", "--days", "90")
    assert code == 0, out
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines()[2:]}
    assert rows == {"carol": ["1", "30.0"], "bob": ["1", "20.0"], "alice": ["1", "2.0"]}
    assert run("incidents", "leads", "octo/none")[1].strip().endswith("nobody led an incident")
    assert run("incidents", "leads", "--days", "7")[0] == 2
    assert run("incidents", "leads", "not-a-repo")[0] == 2
    assert run("incidents", PUBLIC, "--days", "30")[0] == 2


def test_redeliver_requests_only_what_never_arrived(configured: Settings, fake: FakeGitHub) -> None:
    lost = fake.log_delivery("lost", ok=False, hours_ago=2)
    fake.log_delivery("lost", ok=False, hours_ago=1.5)  # a failed retry of the same
    fake.log_delivery("recovered", ok=False, hours_ago=2)
    fake.log_delivery("recovered", ok=True, hours_ago=1)
    fake.log_delivery("held", ok=False, hours_ago=1)
    fake.log_delivery("too-old", ok=False, hours_ago=30)
    for n in range(150):  # enough successful ones to need a second page
        fake.log_delivery(f"fine-{n}", ok=True, hours_ago=0.5)

    async def hold() -> None:
        engine = make_engine(configured.async_database_url)
        await create_schema(engine)
        await Inbox(engine).store(Envelope("held", "issues", "opened", 1, PUBLIC, "1#1", "{}"))
        await engine.dispose()

    asyncio.run(hold())
    code, out = run("redeliver", "--since", "6h")
    assert code == 0, out
    assert "1 redelivered" in out and "1 already in the inbox" in out
    assert fake.redelivered == [lost["id"] + 1]  # the newest attempt of the lost GUID
    assert "redelivered lost" in out
    pages = [c for c in fake.calls if c.path == "/app/hook/deliveries"]
    assert len(pages) == 2
    # Once redelivered, GitHub logs the success: a second run asks for nothing.
    assert "0 redelivered" in run("redeliver")[1]


def test_redeliver_rejects_a_bad_span(configured: Settings) -> None:
    code, out = run("redeliver", "--since", "soon")
    assert code == 2 and "not a duration" in out


def test_check_config_reports_errors_with_line_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "incidents.yml"
    bad.write_text("labels:\n  incident: outage\n  sev9: x\nrecurrence_window: soon\n")
    result = runner.invoke(cli.cli, ["check-config", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3: `labels.sev9`: unknown key" in result.output
    assert f"{bad}:4: `recurrence_window`" in result.output


def test_check_config_refuses_what_would_break_the_service(tmp_path: Path) -> None:
    bad = tmp_path / "incidents.yml"
    bad.write_text("labels:\n  incident: outage\n  resolved: Outage\n")
    result = runner.invoke(cli.cli, ["check-config", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3: `labels.resolved`: the same label as `labels.incident`" in result.output
    bad.write_text("labels:\n  incident: outage\nlabels:\n  sev1: S1\n")
    result = runner.invoke(cli.cli, ["check-config", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3: `labels`: written twice in one mapping (first on line 1)" in result.output


def test_check_config_accepts_a_valid_file(tmp_path: Path) -> None:
    good = tmp_path / "incidents.yml"
    good.write_text("labels:\n  critical: '🟥 priority: critical'\nrecurrence_window: 3d\n")
    code, out = run("check-config", str(good))
    assert code == 0, out
    assert "valid" in out and "🟥 priority: critical" in out and "3d 0h" in out


def test_replay_dry_run_with_a_local_config(
    configured: Settings, fake: FakeGitHub, tmp_path: Path
) -> None:
    config = tmp_path / "incidents.yml"
    config.write_text("labels:\n  incident: outage\n  sev1: 'sev/1'\n")
    _issue, events = fake.open_issue(PUBLIC, labels=["outage", "sev/1"])
    path = save(tmp_path, events[0][1])
    code, out = run("replay", path, "--event", "issues", "--dry-run", "--config", str(config))
    assert code == 0, out
    assert "severity 1" in out and "status:stabilization-pending" in out
    assert f"label names from {config}" in out
    assert fake.calls == []


def test_serve_listens_on_the_loopback_unless_told(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda target, **options: calls.append(options))
    # serve --port sets PORT for the app it imports: record it so the fixture restores it.
    monkeypatch.setenv("PORT", "3000")
    monkeypatch.delenv("PORT")
    assert run("serve")[0] == 0
    assert run("serve", "--host", "0.0.0.0", "--port", "4000")[0] == 0
    assert [(c["host"], c["port"]) for c in calls] == [
        ("127.0.0.1", configured.port),
        ("0.0.0.0", 4000),
    ]


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def short_error(code: int, out: str) -> list[str]:
    """The failure is a line or two (plus the --verbose hint), never a traceback."""
    lines = out.strip().splitlines()
    assert code == 1, out
    assert "Traceback" not in out and len(lines) <= 3, out
    assert lines[-1] == "(run again with --verbose for the traceback)"
    return lines


def test_github_unreachable_says_what_to_check(
    configured: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "github_transport", httpx.MockTransport(unreachable))
    lines = short_error(*run("sync-labels", PUBLIC))
    assert lines[0].startswith("error: GitHub cannot be reached at https://api.github.test")
    assert "GITHUB_API_URL" in lines[0]
    result = runner.invoke(cli.cli, ["sync-labels", PUBLIC, "--verbose"])
    assert result.exit_code == 1 and "cannot be reached" not in result.output
    assert type(result.exception).__name__ == "GitHubUnavailable"
    result = runner.invoke(cli.cli, ["--verbose", "redeliver"])
    assert type(result.exception).__name__ == "GitHubUnavailable"


def test_bad_credentials_name_the_settings(configured: Settings, fake: FakeGitHub) -> None:
    fake.fail("GET", r"/installation$", 401, times=2, body={"message": "Bad credentials"})
    lines = short_error(*run("sync-labels", PUBLIC))
    assert "401" in lines[0] and "APP_ID and PRIVATE_KEY" in lines[0]


def test_an_unparsable_private_key_is_named(
    monkeypatch: pytest.MonkeyPatch, settings_for, fake: FakeGitHub
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "load_settings", lambda: settings_for(private_key="not a key"))
    monkeypatch.setattr(cli, "github_transport", httpx.ASGITransport(app=fake))
    lines = short_error(*run("redeliver"))
    assert "PRIVATE_KEY is not a PEM private key" in lines[0]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:hunter2@127.0.0.1:1/nowhere",
        "postgresql://postgres@127.0.0.1:5432/incident_flow_missing_database",
    ],
    ids=["refused", "no-such-database"],
)
def test_database_unreachable_says_what_to_check(
    monkeypatch: pytest.MonkeyPatch, settings_for, url: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "load_settings", lambda: settings_for(url))
    lines = short_error(*run("incidents", PUBLIC))
    assert lines[0].startswith("error: the database cannot be reached at postgresql://")
    assert "DATABASE_URL" in lines[0]
    assert "hunter2" not in "".join(lines)


def test_replay_shows_every_effect_as_a_line_not_a_repr() -> None:
    from app.domain.plan import (
        AddLabels,
        AddSubIssueLabels,
        Assign,
        LabelOpenSubIssues,
        OpenIssue,
        PostComment,
        RemoveLabel,
        SetIssueState,
    )
    from app.service.replay import describe_effect

    lines = {
        type(effect).__name__: describe_effect(effect)
        for effect in (
            AddLabels(("incident", "severity:1")),
            RemoveLabel("status:resolved"),
            PostComment("status", "\n**Incident**\nmore"),
            SetIssueState("closed", "completed"),
            OpenIssue("stab-1", "Fix \x1b[31mDNS", "body", ("critical",), ("bob",), 7),
            LabelOpenSubIssues("stabilization", ("critical",)),
            AddSubIssueLabels(9, ("critical",)),
            Assign(("bob",), ("alice",)),
        )
    }
    assert lines == {
        "AddLabels": "add labels incident, severity:1",
        "RemoveLabel": "remove label status:resolved",
        "PostComment": "comment [status]: **Incident**",
        "SetIssueState": "set issue closed (completed)",
        "OpenIssue": 'open issue "Fix \\x1b[31mDNS" labelled critical for @bob'
        " as a sub-issue of #7",
        "LabelOpenSubIssues": "add labels critical to open sub-issues labelled stabilization",
        "AddSubIssueLabels": "add labels critical to sub-issue #9",
        "Assign": "assign @bob; unassign @alice",
    }
    for line in lines.values():
        assert "(" not in line.split(" (")[0] and "=" not in line  # no dataclass repr


def test_dead_letters_are_listed_and_retried(configured: Settings) -> None:
    async def bury_two() -> None:
        engine = make_engine(configured.async_database_url)
        await create_schema(engine)
        inbox = Inbox(engine)
        for n in (1, 2):
            await inbox.store(Envelope(f"d-{n}", "issues", "opened", 1, PUBLIC, f"1#{n}", "{}"))
        for delivery in await inbox.claim("w", 5, 60):
            # An error quoting a payload: no control character reaches the terminal.
            await inbox.bury(delivery, "w", f"bad \x1b[31m{delivery.delivery_id}")
        await inbox.close()
        await engine.dispose()

    assert run("dead-letters")[1].strip() == "no dead letters"
    asyncio.run(bury_two())
    code, out = run("dead-letters")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["DELIVERY", "EVENT", "ISSUE"]
    assert [line.split()[0] for line in lines[1:]] == ["d-2", "d-1"]
    assert "issues.opened" in out and "octo/ops 1#1" in out and "bad  [31md-1" in out
    assert "\x1b" not in out
    code, out = run("retry", "d-1")
    assert code == 0 and "1 dead letter queued again" in out
    assert [line.split()[0] for line in run("dead-letters")[1].splitlines()[1:]] == ["d-2"]
    code, out = run("retry", "d-1")  # not dead any more
    assert code == 2 and "not dead letters" in out
    assert run("retry")[0] == 2, "an id or --all is required"
    code, out = run("retry", "--all")
    assert code == 0 and "1 dead letter queued again" in out
    assert run("dead-letters")[1].strip() == "no dead letters"
