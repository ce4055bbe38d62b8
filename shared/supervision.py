"""Background tasks that cannot die: each runs under a supervisor that restarts it with backoff
when it fails (or returns while it should still run), and stops them all with a drain period."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("govperf.supervisor")


class Supervisor:
    def __init__(self, *, min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.restarts: dict[str, int] = {}
        self._stopping = False

    def start(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work()`` as task ``name`` until ``stop``; a failure restarts it after a backoff."""
        self.restarts[name] = 0
        self._tasks[name] = asyncio.create_task(self._supervise(name, work), name=name)

    async def _supervise(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task %s failed; restarting", name)
            else:
                if self._stopping:
                    return
                log.warning("task %s returned while it should run; restarting", name)
            # A task that ran a good while before failing starts again quickly.
            failures = 1 if asyncio.get_running_loop().time() - started > 60 else failures + 1
            self.restarts[name] += 1
            await asyncio.sleep(min(self._min_backoff * 2 ** (failures - 1), self._max_backoff))

    async def stop(self, timeout: float) -> None:
        """Let the tasks finish what they hold for up to ``timeout`` seconds (their own stop flags
        must have been set), then cancel what is left."""
        self._stopping = True
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            log.warning("task %s did not finish within %ss; cancelling", task.get_name(), timeout)
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
