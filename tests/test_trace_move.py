"""What one illegal label move costs (bench/trace_move.py): ceilings that must not rise."""

from pathlib import Path

from bench.trace_move import trace_move


async def test_an_illegal_move_costs_no_more_than_it_does_now(tmp_path: Path) -> None:
    correcting, covered = await trace_move(f"sqlite:///{tmp_path}/trace.db")
    # The aim is one parse and two transactions; today the payload is parsed at receipt and
    # once by the worker (its log lines and the responder share it); the service reads the
    # record with its bookkeeping in one transaction, marks the plan due, then saves.
    assert correcting.parses <= 2
    assert correcting.inbox_transactions == {"store": 1, "claim": 1, "finish": 1}
    assert correcting.service_transactions <= 3
    # The other half of the sidebar move is covered by the first one's read.
    assert covered.service_transactions == 0
    assert covered.parses <= 2
