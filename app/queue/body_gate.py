"""Bodies being read before their signature can be checked: bounded in number, bytes and time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable


class BodyGate:
    """Bodies being read, before their signature can be checked: anyone may send one, so
    they are bounded in number, in bytes held at once, and in time (a slow body is cut off).

    A reader is whatever reads one body: an ASGI request's task (cut by cancelling it) or a
    connection's delivery (cut by answering 408 and closing). One timer sweeps every
    reader, rather than a timer per request: the receiver's cost per delivery stays a
    counter's.
    """

    def __init__(
        self, *, most: int = 100, most_bytes: int = 64 * 1024 * 1024, seconds: float = 10.0
    ) -> None:
        self.most = most
        self.most_bytes = most_bytes
        self.seconds = seconds
        self.held = 0  # bytes of bodies being read
        self._reading: dict[Hashable, tuple[float, Callable[[], object]]] = {}
        self._cut: set[Hashable] = set()
        self._sweep: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._reading)

    def enter(self, reader: Hashable, cut: Callable[[], object] | None = None) -> bool:
        """Admit a reader (False: one too many); `cut` ends it when it is too slow (for a
        task, its cancellation, the default)."""
        if len(self._reading) >= self.most:
            return False
        if cut is None:
            assert isinstance(reader, asyncio.Task)
            cut = reader.cancel
        self._reading[reader] = (time.monotonic(), cut)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self._every(), self._cut_slow)
        return True

    def leave(self, reader: Hashable) -> None:
        if self._reading.pop(reader, None) is not None:
            self._cut.discard(reader)

    def was_cut(self, reader: Hashable) -> bool:
        """Whether this reader's cancellation is the gate's (not the server shutting down)."""
        return reader in self._cut

    def _every(self) -> float:
        return min(1.0, max(0.02, self.seconds / 10))

    def _cut_slow(self) -> None:
        self._sweep = None
        too_old = time.monotonic() - self.seconds
        for reader, (started, cut) in list(self._reading.items()):
            if started <= too_old and reader not in self._cut:
                self._cut.add(reader)
                cut()
        if self._reading:
            self._sweep = asyncio.get_running_loop().call_later(self._every(), self._cut_slow)
