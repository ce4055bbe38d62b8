"""Transactional outbox: write the event with the state change, publish it later from a relay."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.errors import Unprocessable
from shared.events import CloudEvent
from shared.messaging.tables import MessagingTables
from shared.observability import OUTBOX_BACKLOG, OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED

log = logging.getLogger("govperf.outbox")


# NATS refuses messages over its max_payload (8 MB in shared/nats.conf); refuse them here, in the
# request that makes them, instead of leaving an event in the outbox that can never be published.
MAX_EVENT_BYTES = 7 * 1024 * 1024


async def add(session: AsyncSession, tables: MessagingTables, event: CloudEvent) -> None:
    """Queue ``event`` in the caller's transaction; it is published only if that transaction commits."""
    envelope = event.model_dump(mode="json")
    size = len(json.dumps(envelope, separators=(",", ":")).encode())
    if size > MAX_EVENT_BYTES:
        raise Unprocessable(
            f"The {event.type} event would be {size} bytes; events are limited to "
            f"{MAX_EVENT_BYTES} bytes. Shorten the content."
        )
    await session.execute(insert(tables.outbox).values(id=event.id, subject=event.nats_subject, envelope=envelope))


class OutboxRelay:
    """Claims unpublished rows (FOR UPDATE SKIP LOCKED, so relays can run side by side),
    publishes them concurrently with Nats-Msg-Id for de-duplication, marks them published."""

    def __init__(
        self,
        engine: AsyncEngine,
        tables: MessagingTables,
        js: JetStreamContext,
        *,
        service: str,
        batch_size: int = 200,
        idle_interval: float = 0.1,
        publish_timeout: float = 5.0,
        max_backoff: float = 10.0,
    ) -> None:
        self._engine, self._tables, self._js = engine, tables, js
        self._service, self._batch_size = service, batch_size
        self._idle_interval, self._publish_timeout, self._max_backoff = idle_interval, publish_timeout, max_backoff
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _publish(self, row: Any) -> bool:
        try:
            await self._js.publish(
                row.subject,
                json.dumps(row.envelope, separators=(",", ":")).encode(),
                timeout=self._publish_timeout,
                headers={"Nats-Msg-Id": str(row.id)},
            )
            return True
        except Exception as exc:  # noqa: BLE001 - any failure leaves the row for the next round
            log.warning("publish of %s failed: %s", row.id, exc)
            return False

    async def relay_once(self) -> tuple[int, int]:
        """One claim-publish-mark round; returns (published, failed)."""
        outbox = self._tables.outbox
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.id, outbox.c.subject, outbox.c.envelope)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.created_at)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0, 0
            results = await asyncio.gather(*(self._publish(row) for row in rows))
            ok = [row.id for row, success in zip(rows, results, strict=True) if success]
            failed = [row.id for row, success in zip(rows, results, strict=True) if not success]
            if ok:
                await conn.execute(update(outbox).where(outbox.c.id.in_(ok)).values(published_at=func.now()))
            if failed:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(failed))
                    .values(attempts=outbox.c.attempts + 1, last_error="publish failed")
                )
        OUTBOX_PUBLISHED.labels(self._service).inc(len(ok))
        OUTBOX_PUBLISH_FAILURES.labels(self._service).inc(len(failed))
        return len(ok), len(failed)

    async def backlog(self) -> int:
        outbox = self._tables.outbox
        async with self._engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))
        return int(count or 0)

    async def backlog_is_empty(self) -> bool:
        return await self.backlog() == 0

    async def run(self) -> None:
        failures = 0
        rounds = 0
        while not self._stopping:
            try:
                published, failed = await self.relay_once()
                if rounds % 20 == 0 or failed:
                    OUTBOX_BACKLOG.labels(self._service).set(await self.backlog())
                rounds += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database down: back off and retry
                log.warning("outbox relay round failed: %s", exc)
                published, failed = 0, 1
            if failed:
                failures += 1
                await asyncio.sleep(min(0.2 * 2 ** min(failures, 10), self._max_backoff))
                continue
            failures = 0
            if published < self._batch_size:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_interval)
                except TimeoutError:
                    pass
