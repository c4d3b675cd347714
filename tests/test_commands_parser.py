"""The command parser and the permission rule, as tables."""

import pytest

from app.domain.commands import parse_commands
from app.github.permissions import may_triage


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/incident 1", [("incident", "1")]),
        ("/INCIDENT 2 Stabilized", [("incident", "2 Stabilized")]),
        ("please look\n/severity 2\nthanks", [("severity", "2")]),
        ("/stabilized\n/investigating", [("stabilized", ""), ("investigating", "")]),
        ("> /resolved", []),
        ("  > /resolved", []),
        ("```\n/resolved\n```", []),
        ("~~~\n/resolved\n~~~\n/stabilized", [("stabilized", "")]),
        ("    /resolved", []),
        ("text /resolved", []),
        ("/under-investigation", [("investigating", "")]),
        ("/destabilized", [("recurred", "")]),
        ("/stabilize Roll back the deploy  ", [("stabilize", "Roll back the deploy")]),
        ("/unknown-thing x", [("unknown-thing", "x")]),
        ("/", []),
        ("//comment", []),
        ("", []),
        ("```python\n/resolved\n", []),
    ],
    ids=[
        "plain",
        "case",
        "among-text",
        "several",
        "quoted",
        "indented-quote",
        "fenced",
        "tilde-fence",
        "indented-code",
        "mid-line",
        "alias-investigating",
        "alias-recurred",
        "trailing-space",
        "unknown",
        "bare-slash",
        "double-slash",
        "empty",
        "unclosed-fence",
    ],
)
def test_parse(body: str, expected: list[tuple[str, str]]) -> None:
    import app.domain.builtin_commands  # noqa: F401  (registers aliases)

    assert [(c.name, c.args) for c in parse_commands(body)] == expected


def test_lines_are_numbered_for_once_only() -> None:
    commands = parse_commands("hi\n/stabilized\n\n/resolved")
    assert [c.line for c in commands] == [2, 4]


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [
        ({"role_name": "admin"}, True),
        ({"role_name": "maintain"}, True),
        ({"role_name": "write"}, True),
        ({"role_name": "triage", "permission": "read"}, True),
        ({"role_name": "read", "permission": "read"}, False),
        ({"role_name": "none", "permission": "none"}, False),
        ({"role_name": "incident-responder", "user": {"permissions": {"triage": True}}}, True),
        ({"role_name": "viewer", "user": {"permissions": {"pull": True}}}, False),
        ({}, False),
    ],
    ids=[
        "admin",
        "maintain",
        "write",
        "triage",
        "read",
        "none",
        "custom-triage",
        "custom-read",
        "empty",
    ],
)
def test_triage_or_higher(answer: dict, allowed: bool) -> None:  # type: ignore[type-arg]
    assert may_triage(answer) is allowed
