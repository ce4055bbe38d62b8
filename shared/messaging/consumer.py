"""Durable pull consumers with an inbox for idempotency, stale-version refusal and dead letters.

A handler runs in a transaction that first inserts (consumer, event_id) into the inbox; a
conflict means the event was already applied, so it is acked and skipped. An event older than
one of the same aggregate already applied (by sequence) is acked and skipped as stale.

Only a failing handler spends deliveries: an infrastructure failure (database or NATS down,
connection killed, serialization conflict) is retried in place, with the message kept in
progress, until the infrastructure is back. NATS itself never gives up on a message
(``max_deliver`` -1): the runner dead-letters it after ``max_deliver`` handler failures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import func

from shared.events import CloudEvent
from shared.messaging.faults import is_infrastructure_failure
from shared.messaging.tables import MessagingTables
from shared.observability import CONSUMED, DEAD_LETTERS, STALE_EVENTS

log = logging.getLogger("govperf.consumer")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]
Outcome = Literal["applied", "duplicate", "stale"]


@dataclass(frozen=True)
class Subscription:
    """One durable consumer: ``name`` is unique within the service, ``event_type`` e.g.
    ``indicator.framework.published``. ``skip_stale`` (default) acks without applying an event
    whose aggregate sequence is not above the last one this consumer applied."""

    name: str
    event_type: str
    handler: Handler
    skip_stale: bool = True


def subscriptions(handlers: Mapping[str, Handler]) -> list[Subscription]:
    return [Subscription(name=t.replace(".", "_"), event_type=t, handler=h) for t, h in handlers.items()]


async def _quietly(action: Awaitable[Any]) -> None:
    """Ack/nak/in-progress while NATS may be away: a lost ack means a redelivery the inbox absorbs."""
    try:
        await action
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.debug("ack-type reply failed: %r", exc)


class ConsumerRunner:
    def __init__(
        self,
        js: JetStreamContext,
        sessionmaker: async_sessionmaker[AsyncSession],
        tables: MessagingTables,
        *,
        service: str,
        stream: str,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        batch: int = 50,
        max_ack_pending: int = 1000,
        replay_interval: float = 2.0,
    ) -> None:
        self._js, self._sessionmaker, self._tables = js, sessionmaker, tables
        self._service, self._stream = service, stream
        self._max_deliver, self._ack_wait, self._batch = max_deliver, ack_wait, batch
        self._max_ack_pending, self._replay_interval = max_ack_pending, replay_interval
        self._stopping = False
        self.active: set[str] = set()  # durables currently subscribed and pulling (readiness)

    def stop(self) -> None:
        """Finish the message in hand, hand the rest of the fetched batch back (nak), return from ``run``."""
        self._stopping = True

    def durable_name(self, sub: Subscription) -> str:
        return f"{self._service}-{sub.name}"

    def consumer_config(self, sub: Subscription) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable_name(sub),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,  # the runner decides when to give up, counting handler failures only
            ack_wait=self._ack_wait,
            max_ack_pending=self._max_ack_pending,
            filter_subject=f"govperf.{sub.event_type}",
        )

    async def reconcile(self, sub: Subscription) -> None:
        """Create the durable, or bring an existing one to our configuration (a changed ack_wait or
        limit takes effect on the next start instead of being ignored)."""
        wanted = self.consumer_config(sub)
        durable = self.durable_name(sub)
        try:
            info = await self._js.consumer_info(self._stream, durable)
        except NotFoundError:
            await self._js.add_consumer(self._stream, wanted)
            return
        have = info.config
        differs = {
            field: (getattr(have, field), getattr(wanted, field))
            for field in ("max_deliver", "ack_wait", "max_ack_pending", "filter_subject")
            if getattr(have, field) != getattr(wanted, field)
        }
        if differs:
            log.info("updating consumer %s: %s", durable, differs)
            await self._js.add_consumer(self._stream, wanted)

    async def run(self, sub: Subscription) -> None:
        durable = self.durable_name(sub)
        await self.reconcile(sub)
        psub = await self._js.pull_subscribe_bind(durable, self._stream)
        self.active.add(durable)
        failures = 0
        try:
            while not self._stopping:
                try:
                    messages = await psub.fetch(self._batch, timeout=1.0)
                except (NatsTimeoutError, TimeoutError):
                    failures = 0
                    self.active.add(durable)
                    continue
                except Exception as exc:
                    failures += 1
                    self.active.discard(durable)  # not pulling: readiness says so
                    if failures >= 5:
                        raise  # e.g. the durable was deleted: the supervisor subscribes afresh
                    log.warning("fetch for %s failed: %r", durable, exc)
                    await asyncio.sleep(1.0)
                    continue
                failures = 0
                self.active.add(durable)
                await self.handle_batch(sub, messages)
        finally:
            self.active.discard(durable)
            await _quietly(psub.unsubscribe())

    async def handle_batch(self, sub: Subscription, messages: list[Msg]) -> None:
        """Apply a fetched batch in one transaction (one commit instead of one per event);
        if anything in it fails, fall back to one transaction per event to isolate the culprit."""
        if len(messages) > 1 and not self._stopping:
            try:
                events = [CloudEvent.model_validate_json(msg.data) for msg in messages]
                async with self._sessionmaker() as session, session.begin():
                    await self._apply_all(session, sub, events)
            except Exception as exc:  # noqa: BLE001 - isolate the failing event below
                log.info("batch of %s for %s failed (%r); retrying one by one", len(messages), sub.name, exc)
            else:
                await asyncio.gather(*(_quietly(msg.ack()) for msg in messages))
                return
        for index, msg in enumerate(messages):
            if self._stopping:
                # Draining: what we have not started goes back to NATS now, not after ack_wait.
                await asyncio.gather(*(_quietly(m.nak()) for m in messages[index:]))
                return
            await self.handle(sub, msg)

    async def _apply(self, session: AsyncSession, sub: Subscription, event: CloudEvent) -> Outcome:
        return (await self._apply_all(session, sub, [event]))[0]

    async def _apply_all(self, session: AsyncSession, sub: Subscription, events: list[CloudEvent]) -> list[Outcome]:
        """Apply ``events`` in order in the caller's transaction. The inbox and the version check
        are one statement each for the whole list; only the handlers run per event."""
        durable = self.durable_name(sub)
        inbox = self._tables.inbox
        inserted = await session.execute(
            pg_insert(inbox)
            .values([{"consumer": durable, "event_id": e.id} for e in events])
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        new_ids = set(inserted.scalars().all())
        outcomes: list[Outcome] = []
        applied_before = await self._last_sequences(session, durable, events) if sub.skip_stale else {}
        for event in events:
            if event.id not in new_ids:
                outcomes.append("duplicate")
                continue
            new_ids.discard(event.id)  # the same event twice in one batch: the second is a duplicate
            aggregate, sequence = event.aggregateid, event.sequence
            if sub.skip_stale and aggregate is not None and sequence is not None:
                if sequence <= applied_before.get(aggregate, 0):
                    log.info("%s skips stale %s %s #%s", durable, event.type, aggregate, sequence)
                    STALE_EVENTS.labels(self._service, durable).inc()
                    outcomes.append("stale")
                    continue
                applied_before[aggregate] = sequence
            await sub.handler(session, event)
            CONSUMED.labels(self._service, sub.event_type).inc()
            outcomes.append("applied")
        return outcomes

    async def _last_sequences(self, session: AsyncSession, durable: str, events: list[CloudEvent]) -> dict[str, int]:
        """The last applied sequence of each aggregate in ``events`` (rows locked until commit, so
        replicas applying one aggregate take turns), and record the highest incoming one."""
        highest: dict[str, int] = {}
        for event in events:
            if event.aggregateid is not None and event.sequence is not None:
                highest[event.aggregateid] = max(highest.get(event.aggregateid, 0), event.sequence)
        if not highest:
            return {}
        versions = self._tables.aggregate_version
        aggregates = list(highest)
        rows = await session.execute(
            select(versions.c.aggregate_id, versions.c.sequence)
            .where(versions.c.consumer == durable, versions.c.aggregate_id.in_(aggregates))
            .with_for_update()
        )
        before = {aggregate_id: sequence for aggregate_id, sequence in rows.all()}
        statement = pg_insert(versions).values(
            [{"consumer": durable, "aggregate_id": a, "sequence": highest[a]} for a in aggregates]
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[versions.c.consumer, versions.c.aggregate_id],
                set_={"sequence": func.greatest(versions.c.sequence, statement.excluded.sequence)},
            )
        )
        return before

    async def _wait_out(self, msg: Msg | None, attempt: int, what: str, exc: BaseException) -> None:
        log.warning("%s: infrastructure failure (attempt %s), retrying: %r", what, attempt, exc)
        if msg is not None:
            await _quietly(msg.in_progress())  # keep the message ours while we wait
        await asyncio.sleep(min(0.2 * 2 ** min(attempt, 6), 5.0))

    async def handle(self, sub: Subscription, msg: Msg) -> None:
        durable = self.durable_name(sub)
        deliveries = msg.metadata.num_delivered if msg.metadata else 1
        try:
            event = CloudEvent.model_validate_json(msg.data)
        except (ValidationError, ValueError) as exc:
            # A malformed event never becomes valid by retrying: dead-letter it at once.
            error = f"invalid envelope: {exc.error_count() if isinstance(exc, ValidationError) else 1} errors"
            if await self._dead_letter(durable, None, msg, error, deliveries):
                await _quietly(msg.ack())
            return
        attempt = 0
        while True:
            try:
                async with self._sessionmaker() as session, session.begin():
                    await self._apply(session, sub, event)
            except Exception as exc:  # noqa: BLE001 - decide between wait, retry and dead letter
                if is_infrastructure_failure(exc):
                    if self._stopping:
                        await _quietly(msg.nak())
                        return
                    attempt += 1
                    await self._wait_out(msg, attempt, f"{durable} on {event.id}", exc)
                    continue
                log.warning("handler %s failed on %s (delivery %s): %r", durable, event.id, deliveries, exc)
                if deliveries >= self._max_deliver:
                    if await self._dead_letter(durable, event.id, msg, repr(exc), deliveries):
                        await _quietly(msg.ack())
                else:
                    await _quietly(msg.nak(delay=min(0.5 * 2**deliveries, 30.0)))
                return
            await _quietly(msg.ack())
            return

    async def _dead_letter(self, durable: str, event_id: object, msg: Msg, error: str, deliveries: int) -> bool:
        """Keep the message bytes whole; True once stored (False only when stopping first)."""
        attempt = 0
        while True:
            try:
                async with self._sessionmaker() as session, session.begin():
                    await session.execute(
                        insert(self._tables.dead_letter).values(
                            consumer=durable,
                            event_id=event_id,
                            subject=msg.subject.replace("\x00", ""),
                            payload=bytes(msg.data),
                            # Text columns cannot hold NUL; the error is for people, the payload stays exact.
                            error=error.replace("\x00", "\\x00")[:4000],
                            deliveries=min(deliveries, 32767),
                        )
                    )
            except Exception as exc:  # noqa: BLE001 - the database is what failed: wait for it
                if self._stopping:
                    await _quietly(msg.nak())
                    return False
                attempt += 1
                await self._wait_out(msg, attempt, f"dead letter for {durable}", exc)
                continue
            DEAD_LETTERS.labels(self._service, durable).inc()
            return True

    async def replay_requested(self, subs: Sequence[Subscription]) -> int:
        """Apply dead letters an operator asked to replay (``govperf dead-letters replay``) for
        these subscriptions; returns how many were handled. Each runs in its own savepoint."""
        by_durable = {self.durable_name(sub): sub for sub in subs}
        table = self._tables.dead_letter
        handled = 0
        async with self._sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(table.c.id, table.c.consumer, table.c.payload)
                    .where(table.c.status == "replay_requested", table.c.consumer.in_(list(by_durable)))
                    .order_by(table.c.id)
                    .limit(50)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                values: dict[str, Any] = {"replays": table.c.replays + 1}
                try:
                    event = CloudEvent.model_validate_json(row.payload)
                    async with session.begin_nested():
                        outcome = await self._apply(session, by_durable[row.consumer], event)
                except Exception as exc:
                    if is_infrastructure_failure(exc):
                        raise
                    values |= {"status": "open", "error": f"replay failed: {exc!r}".replace("\x00", "")[:4000]}
                else:
                    values |= {"status": "replayed", "resolved_at": func.now()}
                    if outcome != "applied":
                        values["error"] = f"replay skipped: {outcome}"
                await session.execute(update(table).where(table.c.id == row.id).values(**values))
                handled += 1
        return handled

    async def run_replays(self, subs: Sequence[Subscription]) -> None:
        while not self._stopping:
            try:
                handled = await self.replay_requested(subs)
            except Exception as exc:  # noqa: BLE001 - database away: try again next round
                log.warning("dead-letter replay round failed: %r", exc)
                handled = 0
            if not handled:
                await asyncio.sleep(self._replay_interval)
