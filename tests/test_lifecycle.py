"""The lifecycle table: every (status, target) pair, and the README's diagram."""

import re
from pathlib import Path

import pytest

from app.domain.lifecycle import LEGAL_MOVES, Status, is_legal, legal_moves, mermaid

S = Status
EXPECTED_LEGAL = {
    (S.STABILIZATION_PENDING, S.STABILIZED),
    (S.STABILIZED, S.UNDER_INVESTIGATION),
    (S.STABILIZED, S.RESOLVED),
    (S.STABILIZED, S.STABILIZATION_PENDING),
    (S.UNDER_INVESTIGATION, S.RESOLVED),
    (S.UNDER_INVESTIGATION, S.STABILIZATION_PENDING),
    (S.RESOLVED, S.REVIEWED),
    (S.RESOLVED, S.STABILIZATION_PENDING),
}
PAIRS = [(a, b) for a in Status for b in Status]


@pytest.mark.parametrize(
    ("current", "target"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS]
)
def test_every_pair_matches_the_policy(current: Status, target: Status) -> None:
    assert is_legal(current, target) == ((current, target) in EXPECTED_LEGAL)


def test_reviewed_is_terminal_and_no_self_moves() -> None:
    assert legal_moves(S.REVIEWED) == []
    assert all(status not in LEGAL_MOVES[status] for status in Status)


def test_readme_diagram_matches_the_table() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert block, "README has no mermaid diagram"
    assert block.group(1).strip() == mermaid().strip()
