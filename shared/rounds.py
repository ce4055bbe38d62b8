"""Coalescing concurrent requests into rounds: one round trip (a statement, an HTTP call) for
everything that queued up while the previous round ran.

Each round takes what is queued (up to ``max_round`` items) and answers every item at once. Rounds
form by themselves: a quiet process answers at once, a busy one serves hundreds of requests per
round trip. ``max_in_flight`` rounds may run at a time (one by default, so rounds never overlap)."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from typing import Generic, TypeVar

from prometheus_client import Counter

log = logging.getLogger("govperf.rounds")

# Sums, so a scrape before and after a load gives each stage's rounds per second, mean round size,
# mean queue wait and mean round time (``python -m bench survey`` prints them); per round, not per
# item, so they cost nothing measurable.
ROUNDS = Counter("govperf_rounds_total", "Rounds run", ["name"])
ROUND_ITEMS = Counter("govperf_round_items_total", "Items answered by rounds", ["name"])
ROUND_WAIT = Counter("govperf_round_wait_seconds_total", "Time items queued before their round began", ["name"])
ROUND_BUSY = Counter("govperf_round_seconds_total", "Time from a round's start to its answers", ["name"])

T = TypeVar("T")
R = TypeVar("R")


class Rounds(abc.ABC, Generic[T, R]):
    name = "rounds"

    def __init__(self, *, max_round: int = 1000, max_in_flight: int = 1) -> None:
        self.max_round = max_round
        self._queue: list[tuple[T, asyncio.Future[R], float]] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._task: asyncio.Task[None] | None = None
        self._rounds: set[asyncio.Task[None]] = set()
        self._counted = (
            ROUNDS.labels(self.name),
            ROUND_ITEMS.labels(self.name),
            ROUND_WAIT.labels(self.name),
            ROUND_BUSY.labels(self.name),
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._rounds) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _, answer, _ in self._queue:
            if not answer.done():
                answer.set_exception(ConnectionError("the service is shutting down"))

    async def submit(self, item: T) -> R:
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, answer, time.perf_counter()))
        self._wake.set()
        return await answer

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()
                batch, self._queue = self._queue[: self.max_round], self._queue[self.max_round :]
                task = asyncio.create_task(self._answer_and_release(batch), name=f"{self.name}-round")
                self._rounds.add(task)
                task.add_done_callback(self._rounds.discard)

    async def _answer_and_release(self, batch: list[tuple[T, asyncio.Future[R], float]]) -> None:
        started = time.perf_counter()
        rounds, items, waited, busy = self._counted
        rounds.inc()
        items.inc(len(batch))
        waited.inc(started * len(batch) - sum(queued for _, _, queued in batch))
        try:
            await self._answer(batch)
        finally:
            self._slots.release()
            busy.inc(time.perf_counter() - started)

    async def _answer(self, batch: list[tuple[T, asyncio.Future[R], float]]) -> None:
        try:
            results = await self.round([item for item, _, _ in batch])
        except asyncio.CancelledError:
            for _, answer, _ in batch:
                if not answer.done():
                    answer.set_exception(ConnectionError("the service is shutting down"))
            raise
        except Exception as exc:  # noqa: BLE001 - the waiting requests get the failure
            log.warning("%s round of %d failed: %r", self.name, len(batch), exc)
            if len(batch) > 1:
                # One item the other side refuses must not fail the others: each goes again alone
                # (a failed round changed nothing), so only a bad item fails its own request.
                for one in batch:
                    await self._answer([one])
                return
            if not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return
        for (_, answer, _), result in zip(batch, results, strict=True):
            if not answer.done():
                answer.set_result(result)

    @abc.abstractmethod
    async def round(self, items: list[T]) -> list[R]:
        """One result per item, in order: one round trip for all of them. Raising fails the round;
        it is then retried item by item, so it must have changed nothing."""
