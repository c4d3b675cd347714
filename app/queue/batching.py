"""Group commit: concurrent deliveries share one transaction, and each waits for its commit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Gathers items submitted while a write is in flight into the next write.

    The first item is written at once, alone; items arriving meanwhile wait for that
    write to finish and then go together. A caller's result comes after its own commit,
    so an answer given on it (a 202) still means stored.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[list[R]]],
        max_batch: int = 200,
        *,
        whole_batch: type[Exception] | None = None,
    ):
        self._write = write
        # An error of this type is the store's, not one item's: it fails every item at once.
        self._whole_batch = whole_batch
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        return await self.enqueue(item)

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """`submit` without a coroutine: the future of the item's result (the receiver
        answers from its callback, with no task per delivery)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as exc:
            if self._whole_batch is not None and isinstance(exc, self._whole_batch):
                for _, future in batch:
                    _settle(future, error=exc)
                return
            if len(batch) > 1:
                # One bad item must not fail the others: write them one by one.
                for one in batch:
                    await self._commit([one])
                return
            _settle(batch[0][1], error=exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[R], *, result: R | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # the caller went away (client disconnected); the write stands
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
