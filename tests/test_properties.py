"""Properties: label events in any order converge legally; the command parser never raises."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.command_flow import labels_after
from app.domain.commands import parse_commands
from app.domain.config import DEFAULT_CONFIG
from app.domain.decide import reconcile_labels
from app.domain.facts import Hint, Issue
from app.domain.labels import DEFAULT_LABELS as SCHEME
from app.domain.lifecycle import Severity, Status, is_legal
from app.domain.records import Incident

LABELS = [
    SCHEME.incident,
    *(SCHEME.severity_label(s) for s in Severity),
    *(SCHEME.status_label(s) for s in Status),
    "bug",
]
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

# A human adds or removes one label; or GitHub delivers one of the hints sent so far (any of
# them, again or late); the index is reduced modulo the number of hints sent.
human = st.tuples(st.sampled_from(["labeled", "unlabeled"]), st.sampled_from(LABELS))
delivery = st.tuples(st.just("deliver"), st.integers(min_value=0, max_value=10_000))
steps = st.lists(st.one_of(human, delivery), max_size=40)
initial = st.lists(st.sampled_from(LABELS), unique=True).map(
    lambda labels: [SCHEME.incident, *[n for n in labels if n != SCHEME.incident]]
)


class Simulation:
    """One issue on GitHub and the app's record, moved only by the pure core's plans."""

    def __init__(self, labels: list[str]) -> None:
        self.issue = Issue("octo/ops", 7, 1, 100, "Search is down", "open", tuple(labels))
        self.incident: Incident | None = None
        self.hints: list[Hint] = []
        self.clock = START

    def act(self, action: str, label: str) -> None:
        self.clock += timedelta(minutes=1)
        labels = list(self.issue.labels)
        if action == "labeled" and label not in labels:
            labels.append(label)
        elif action == "unlabeled" and label in labels:
            labels.remove(label)
        else:
            return  # GitHub sends nothing for a change that changes nothing
        self.issue = replace(self.issue, labels=tuple(labels))
        self.hints.append(Hint("issues", action, "alice", self.clock, f"d{len(self.hints)}", label))

    def deliver(self, hint: Hint) -> bool:
        """Process one delivery; True when it changed anything."""
        decision = reconcile_labels(hint, self.issue, self.incident, DEFAULT_CONFIG)
        changed = bool(decision.plan) or decision.incident != self.incident
        self.issue = labels_after(self.issue, decision.plan)
        self.incident = decision.incident
        return changed


@settings(max_examples=300, deadline=None)
@given(initial, steps)
def test_label_events_in_any_order_end_legal_and_as_recorded(
    labels: list[str], script: list[tuple[str, object]]
) -> None:
    sim = Simulation(labels)
    sim.hints.append(Hint("issues", "opened", "alice", START, "opened"))
    for kind, value in script:
        if kind == "deliver":
            sim.deliver(sim.hints[int(value) % len(sim.hints)])  # type: ignore[call-overload]
        else:
            sim.act(kind, str(value))
    # Whatever arrived, one more delivery brings the issue in line, and then nothing moves.
    final = Hint("issues", "edited", "alice", sim.clock, "final")
    sim.deliver(final)
    assert not sim.deliver(final), "a second look changed something: not converged"

    incident = sim.incident
    if SCHEME.incident not in sim.issue.labels:
        return  # not (or no longer) managed: the app leaves the labels alone
    assert incident is not None and incident.managed
    statuses = [n for n in sim.issue.labels if SCHEME.status_of(n) is not None]
    assert statuses == [SCHEME.status_label(incident.status)], (statuses, incident.status)
    severities = [n for n in sim.issue.labels if SCHEME.severity_of(n) is not None]
    expected = [] if incident.severity is None else [SCHEME.severity_label(incident.severity)]
    assert severities == expected
    for entry in incident.timeline:
        if entry.kind == "status" and entry.from_value and entry.to_value:
            assert is_legal(Status(entry.from_value), Status(entry.to_value)), entry


COMMENT_PIECES = st.sampled_from(
    [
        "/incident 1",
        "/severity 2",
        "/stabilize",
        "/lead @bob",
        "/timeline rolled back",
        "/help",
        "/",
        "//",
        "/ severity",
        "/SEVERITY 9",
        "> /severity 1",
        "```",
        "~~~",
        "    /severity 1",
        "\t/help",
        "<!-- /help -->",
        "`/help`",
        "",
        "\u200b/help",
        "/help\r",
        "/x" * 50,
    ]
)
comments = st.one_of(
    st.text(),
    st.lists(st.one_of(COMMENT_PIECES, st.text(max_size=20)), max_size=30).map("\n".join),
    st.lists(COMMENT_PIECES, max_size=30).map("\r\n".join),
)


@settings(max_examples=500, deadline=None)
@given(comments)
def test_the_command_parser_never_raises(body: str) -> None:
    commands = parse_commands(body)
    lines = body.splitlines()
    for command in commands:
        assert 1 <= command.line <= len(lines)
        assert command.text.startswith("/"), "only a line starting with / is a command"
        assert not lines[command.line - 1].lstrip().startswith(">"), "a quote ran a command"


def test_the_parser_takes_none_and_empty() -> None:
    assert parse_commands(None) == []
    assert parse_commands("") == []
