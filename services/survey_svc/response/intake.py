"""Set-based response intake: validated responses from concurrent requests are written together.

Each round takes everything queued, spends all its tokens with one
``UPDATE ... WHERE token_hash = ANY(...) AND spent IS FALSE RETURNING token_hash`` and inserts the
responses whose token that statement spent with one multi-row INSERT, in one transaction. A
token named twice (in one round or across rounds) is spent once: the guarded UPDATE decides, and
within a round only its first response may win. Rounds form by themselves: while one writes, the
next fills, so a quiet service answers at once and a busy one writes hundreds of rows per commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.survey_svc.campaign.models import RespondentToken
from services.survey_svc.response.models import Response
from shared.db import committing, utcnow

log = logging.getLogger("govperf.survey.intake")

MAX_ROUND = 500  # x 15 columns stays far below asyncpg's 32,767 bind parameters


@dataclass
class PendingResponse:
    token_hash: bytes
    anonymous: bool
    row: dict[str, Any]
    recorded: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class IntakeWriter:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._queue: list[PendingResponse] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="survey-intake-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for pending in self._queue:
            if not pending.recorded.done():
                pending.recorded.set_exception(ConnectionError("the service is shutting down"))

    async def record(self, pending: PendingResponse) -> bool:
        """True when this response was recorded, False when its token was spent already."""
        self._queue.append(pending)
        self._wake.set()
        return await pending.recorded

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_ROUND], self._queue[MAX_ROUND:]
                try:
                    winners = await self._write(batch)
                except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure
                    log.warning("intake round of %d failed: %r", len(batch), exc)
                    for pending in batch:
                        if not pending.recorded.done():
                            pending.recorded.set_exception(exc)
                    continue
                for pending in batch:
                    if not pending.recorded.done():
                        pending.recorded.set_result(id(pending) in winners)

    async def _write(self, batch: list[PendingResponse]) -> set[int]:
        first: dict[bytes, PendingResponse] = {}
        for pending in batch:
            first.setdefault(pending.token_hash, pending)
        identified = [h for h, p in first.items() if not p.anonymous]
        async with self._sessionmaker() as session, committing(session):
            spent = await session.execute(
                update(RespondentToken)
                .where(RespondentToken.token_hash.in_(list(first)), RespondentToken.spent.is_(False))
                # Anonymous campaigns keep no moment of spending: it would match the response.
                .values(
                    spent=True,
                    spent_at=case((RespondentToken.token_hash.in_(identified), utcnow()), else_=None)
                    if identified
                    else None,
                )
                .returning(RespondentToken.token_hash)
            )
            won = [first[h] for (h,) in spent.all()]
            if won:
                await session.execute(insert(Response), [p.row for p in won])
        return {id(p) for p in won}
