"""Transactional outbox: write the event with the state change, publish it later from a relay.

Ordering: ``add`` gives each event the next sequence of its aggregate from a counter row that
stays locked until the caller commits, so per aggregate the sequence is the commit order. The
relay publishes an aggregate's events strictly in sequence: a row is published only when every
earlier row of its aggregate is published (or discarded by an operator), whichever relay holds it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.errors import ConnectionClosedError, NoRespondersError, OutboundBufferLimitError, StaleConnectionError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from sqlalchemy import Text, cast, event, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from shared.errors import Unprocessable
from shared.events import CloudEvent
from shared.messaging.tables import MessagingTables
from shared.observability import OUTBOX_BACKLOG, OUTBOX_PARKED, OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED

log = logging.getLogger("govperf.outbox")

# NATS's own default; replaced by the connected server's max_payload (use_server_max_payload).
DEFAULT_MAX_PAYLOAD = 1024 * 1024
# Headers (Nats-Msg-Id) travel within max_payload; the 1% covers number formatting differences
# between our size estimate and PostgreSQL's jsonb text, which is what the relay sends.
HEADER_ALLOWANCE = 1024
_max_payload = DEFAULT_MAX_PAYLOAD

# A NUL character cannot be stored in jsonb; refuse it as bad input rather than fail the insert.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_WRITTEN_KEY = "govperf_outbox_written"


def use_server_max_payload(max_payload: int) -> None:
    """Size events by what the connected NATS server accepts (``nc.max_payload``)."""
    global _max_payload
    if max_payload > 0:
        _max_payload = max_payload


def max_event_bytes() -> int:
    return _max_payload - HEADER_ALLOWANCE - _max_payload // 100


def encoded_size(envelope: dict[str, Any]) -> int:
    """Bytes of the envelope as PostgreSQL prints jsonb (", " and ": ", UTF-8), as the relay sends it."""
    return len(json.dumps(envelope, ensure_ascii=False).encode())


async def add(session: AsyncSession, tables: MessagingTables, event: CloudEvent) -> CloudEvent:
    """Queue ``event`` in the caller's transaction; it is published only if that transaction commits.
    Returns the event as it will be published (with its sequence when it names an aggregate)."""
    envelope = event.model_dump(mode="json")
    raw = json.dumps(envelope, ensure_ascii=False)
    if _NUL_ESCAPE.search(raw):
        raise Unprocessable(
            f"The {event.type} event contains a NUL character, which cannot be stored.",
            errors=[{"field": "data", "message": "NUL characters are not allowed"}],
        )
    size = len(raw.encode()) + 64  # room for the aggregate id and sequence set below
    limit = max_event_bytes()
    if size > limit:
        raise Unprocessable(
            f"The {event.type} event would be {size} bytes; the message broker accepts events of at most "
            f"{limit} bytes. Shorten the content.",
            errors=[{"field": "data", "message": f"event larger than {limit} bytes", "limit": limit}],
        )
    if event.aggregateid is None:
        # Not about an aggregate: an ordering key of its own in the outbox, nothing for consumers
        # to track (no aggregate id or sequence in the envelope).
        aggregate_id, sequence = str(event.id), 1
        sequenced = event
    else:
        aggregate_id = event.aggregateid
        counter = tables.outbox_sequence
        sequence = int(
            await session.scalar(
                pg_insert(counter)
                .values(aggregate_id=aggregate_id, last_sequence=1)
                .on_conflict_do_update(
                    index_elements=[counter.c.aggregate_id], set_={"last_sequence": counter.c.last_sequence + 1}
                )
                .returning(counter.c.last_sequence)
            )
            or 1
        )
        sequenced = event.model_copy(update={"aggregateid": aggregate_id, "sequence": sequence})
    envelope = sequenced.model_dump(mode="json")
    await session.execute(
        insert(tables.outbox).values(
            id=event.id,
            subject=event.nats_subject,
            envelope=envelope,
            aggregate_id=aggregate_id,
            sequence=sequence,
            payload_bytes=encoded_size(envelope),
        )
    )
    session.info.setdefault(_WRITTEN_KEY, set()).add(tables.outbox.fullname)
    return sequenced


# Relays in this process by outbox table: a commit that wrote outbox rows wakes them at once;
# other commits (and rows written by other processes) are found by the idle poll.
_RELAYS: dict[str, weakref.WeakSet[OutboxRelay]] = defaultdict(weakref.WeakSet)


@event.listens_for(Session, "after_commit")
def _wake_relays_after_commit(session: Session) -> None:
    for table in session.info.pop(_WRITTEN_KEY, ()):
        for relay in list(_RELAYS.get(table, ())):
            relay.wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_WRITTEN_KEY, None)


# Failures of the connection, not of the row: they never count towards parking.
_INFRASTRUCTURE_ERRORS = (
    ConnectionClosedError,
    NoRespondersError,
    NatsTimeoutError,
    TimeoutError,
    OutboundBufferLimitError,
    StaleConnectionError,
    ConnectionError,
    OSError,
)


@dataclass(frozen=True)
class _Claim:
    id: uuid.UUID
    aggregate_id: str
    sequence: int
    payload_bytes: int


class OutboxRelay:
    """Claims due rows (FOR UPDATE SKIP LOCKED, so relays can run side by side), publishes each
    aggregate's claimed run in sequence order (aggregates concurrently) with Nats-Msg-Id for
    de-duplication, and marks them published. A row the server refuses is retried with its own
    backoff and parked after ``max_attempts``; a round reads at most ``max_batch_bytes`` of events."""

    def __init__(
        self,
        engine: AsyncEngine,
        tables: MessagingTables,
        js: JetStreamContext,
        *,
        service: str,
        batch_size: int = 200,
        max_batch_bytes: int = 16 * 1024 * 1024,
        idle_interval: float = 0.25,
        publish_timeout: float = 5.0,
        max_backoff: float = 10.0,
        max_attempts: int = 10,
        row_backoff_base: float = 1.0,
        row_backoff_max: float = 600.0,
    ) -> None:
        self._engine, self._tables, self._js = engine, tables, js
        self._service, self._batch_size, self._max_batch_bytes = service, batch_size, max_batch_bytes
        self._idle_interval, self._publish_timeout, self._max_backoff = idle_interval, publish_timeout, max_backoff
        self._max_attempts, self._row_backoff_base, self._row_backoff_max = (
            max_attempts,
            row_backoff_base,
            row_backoff_max,
        )
        self._wake = asyncio.Event()
        self._stopping = False
        self._infrastructure_failed = False  # the last round failed for the connection, not a row
        self.running = False
        _RELAYS[tables.outbox.fullname].add(self)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Finish the round in progress (publish and mark), then return from ``run``."""
        self._stopping = True
        self._wake.set()

    def _claim_sql(self) -> Any:
        name = self._tables.outbox.fullname
        # A row whose aggregate has an earlier row parked or waiting for its retry is not claimed:
        # it could not be published anyway, and must not crowd due rows out of the batch.
        return text(
            f"""
            SELECT o.id, o.aggregate_id, o.sequence, o.payload_bytes FROM {name} o
             WHERE o.published_at IS NULL AND o.discarded_at IS NULL AND o.parked_at IS NULL
               AND o.next_attempt_at <= now()
               AND NOT EXISTS (
                   SELECT 1 FROM {name} p
                    WHERE p.aggregate_id = o.aggregate_id AND p.sequence < o.sequence
                      AND p.published_at IS NULL AND p.discarded_at IS NULL
                      AND (p.parked_at IS NOT NULL OR p.next_attempt_at > now()))
             ORDER BY o.next_attempt_at, o.aggregate_id, o.sequence
             LIMIT :limit
               FOR UPDATE OF o SKIP LOCKED
            """  # noqa: S608 - the table name comes from our own metadata
        )

    def _pending_before_sql(self) -> Any:
        name = self._tables.outbox.fullname
        return text(
            f"""
            SELECT o.aggregate_id, o.sequence FROM {name} o
              JOIN unnest(CAST(:aggregates AS text[]), CAST(:sequences AS bigint[])) AS c(aggregate_id, last)
                ON o.aggregate_id = c.aggregate_id AND o.sequence <= c.last
             WHERE o.published_at IS NULL AND o.discarded_at IS NULL
            """  # noqa: S608 - the table name comes from our own metadata
        )

    async def _publishable_runs(self, conn: AsyncConnection, claimed: Sequence[_Claim]) -> list[list[_Claim]]:
        """Per aggregate, the claimed rows that follow on from its last published one without a gap:
        a row held by another relay, or not claimed, stops its aggregate's run."""
        by_aggregate: dict[str, dict[int, _Claim]] = defaultdict(dict)
        for row in claimed:
            by_aggregate[row.aggregate_id][row.sequence] = row
        aggregates = list(by_aggregate)
        pending = (
            await conn.execute(
                self._pending_before_sql(),
                {"aggregates": aggregates, "sequences": [max(by_aggregate[a]) for a in aggregates]},
            )
        ).all()
        pending_by_aggregate: dict[str, list[int]] = defaultdict(list)
        for aggregate_id, sequence in pending:
            pending_by_aggregate[aggregate_id].append(sequence)
        runs = []
        for aggregate_id, rows in by_aggregate.items():
            run = []
            for sequence in sorted(pending_by_aggregate[aggregate_id]):
                if sequence not in rows:
                    break
                run.append(rows[sequence])
            if run:
                runs.append(run)
        return runs

    async def _publish_run(self, run: list[_Claim], bodies: dict[uuid.UUID, tuple[str, bytes]]) -> list[Any]:
        """Publish in sequence; the first failure ends the run (later rows wait for it)."""
        results: list[Any] = []
        for row in run:
            subject, body = bodies[row.id]
            try:
                await self._js.publish(
                    subject, body, timeout=self._publish_timeout, headers={"Nats-Msg-Id": str(row.id)}
                )
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
                log.warning("publish of %s failed: %r", row.id, exc)
                results.append((row, exc))
                break
            results.append((row, None))
        return results

    async def relay_once(self) -> tuple[int, int]:
        """One claim-publish-mark round; returns (published, failed)."""
        outbox = self._tables.outbox
        self._infrastructure_failed = False
        async with self._engine.begin() as conn:
            claimed = [
                _Claim(*row) for row in (await conn.execute(self._claim_sql(), {"limit": self._batch_size})).all()
            ]
            if not claimed:
                return 0, 0
            # Bounded by bytes as well as rows: only this prefix's envelopes are read.
            chosen: list[_Claim] = []
            total = 0
            for row in claimed:
                if chosen and total + row.payload_bytes > self._max_batch_bytes:
                    break
                chosen.append(row)
                total += row.payload_bytes
            runs = await self._publishable_runs(conn, chosen)
            if not runs:
                return 0, 0
            ids = [row.id for run in runs for row in run]
            bodies = {
                row.id: (row.subject, row.body.encode())
                for row in (
                    await conn.execute(
                        select(outbox.c.id, outbox.c.subject, cast(outbox.c.envelope, Text).label("body")).where(
                            outbox.c.id.in_(ids)
                        )
                    )
                ).all()
            }
            outcomes = [
                item
                for run_outcome in await asyncio.gather(*(self._publish_run(r, bodies) for r in runs))
                for item in run_outcome
            ]
            del bodies
            ok = [row.id for row, exc in outcomes if exc is None]
            failed = [(row, exc) for row, exc in outcomes if exc is not None]
            if ok:
                await conn.execute(update(outbox).where(outbox.c.id.in_(ok)).values(published_at=func.now()))
            row_failures = [(row, exc) for row, exc in failed if not self._infrastructure_failure(exc)]
            self._infrastructure_failed = len(row_failures) < len(failed)
            if row_failures:
                await conn.execute(
                    text(
                        f"""
                        UPDATE {outbox.fullname} SET attempts = attempts + 1, last_error = :error,
                               next_attempt_at = now() + make_interval(secs => least(:base * power(2, attempts), :cap)),
                               parked_at = CASE WHEN attempts + 1 >= :max_attempts THEN now() END
                         WHERE id = :id
                        """  # noqa: S608 - the table name comes from our own metadata
                    ),
                    [
                        {
                            "id": row.id,
                            "error": repr(exc)[:2000].replace("\x00", ""),
                            "base": self._row_backoff_base,
                            "cap": self._row_backoff_max,
                            "max_attempts": self._max_attempts,
                        }
                        for row, exc in row_failures
                    ],
                )
        OUTBOX_PUBLISHED.labels(self._service).inc(len(ok))
        OUTBOX_PUBLISH_FAILURES.labels(self._service).inc(len(failed))
        return len(ok), len(failed)

    def _infrastructure_failure(self, exc: BaseException) -> bool:
        nc = getattr(self._js, "_nc", None)
        if nc is not None and not nc.is_connected:
            return True
        return isinstance(exc, _INFRASTRUCTURE_ERRORS)

    async def backlog(self) -> int:
        """Rows waiting to be published (parked ones included)."""
        outbox = self._tables.outbox
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.published_at.is_(None), outbox.c.discarded_at.is_(None))
            )
        return int(count or 0)

    async def parked(self) -> int:
        outbox = self._tables.outbox
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(outbox)
                .where(
                    outbox.c.published_at.is_(None), outbox.c.discarded_at.is_(None), outbox.c.parked_at.is_not(None)
                )
            )
        return int(count or 0)

    async def refresh_metrics(self) -> None:
        OUTBOX_BACKLOG.labels(self._service).set(await self.backlog())
        OUTBOX_PARKED.labels(self._service).set(await self.parked())

    async def backlog_is_empty(self) -> bool:
        return await self.backlog() == 0

    async def run(self) -> None:
        failures = 0
        rounds = 0
        self.running = True
        try:
            while not self._stopping:
                # Cleared before the round, so a commit during the round still wakes the next one.
                self._wake.clear()
                try:
                    published, failed = await self.relay_once()
                    if rounds % 50 == 0 or failed:
                        await self.refresh_metrics()
                    rounds += 1
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - database down: back off and retry
                    log.warning("outbox relay round failed: %r", exc)
                    published, self._infrastructure_failed = 0, True
                # A row the server refused waits for its own retry time; only a broken connection
                # (database or NATS) makes the whole relay back off.
                if self._infrastructure_failed and not published:
                    failures += 1
                    await self._sleep(min(0.2 * 2 ** min(failures, 10), self._max_backoff))
                    continue
                failures = 0
                if published < self._batch_size:
                    await self._sleep(self._idle_interval)
        finally:
            self.running = False

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until woken (a commit that wrote outbox rows, or stop)."""
        if self._stopping:
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            return
