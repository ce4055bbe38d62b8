"""Durable pull consumers with an inbox for idempotency and a dead-letter table.

A handler runs in a transaction that first inserts (consumer, event_id) into the inbox;
a conflict means the event was already applied, so it is acked and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import CloudEvent
from shared.messaging.tables import MessagingTables
from shared.observability import CONSUMED, DEAD_LETTERS

log = logging.getLogger("govperf.consumer")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One durable consumer: ``name`` is unique within the service, ``event_type`` e.g.
    ``indicator.framework.published``."""

    name: str
    event_type: str
    handler: Handler


def subscriptions(handlers: Mapping[str, Handler]) -> list[Subscription]:
    return [Subscription(name=t.replace(".", "_"), event_type=t, handler=h) for t, h in handlers.items()]


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
    ) -> None:
        self._js, self._sessionmaker, self._tables = js, sessionmaker, tables
        self._service, self._stream = service, stream
        self._max_deliver, self._ack_wait, self._batch = max_deliver, ack_wait, batch
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    def durable_name(self, sub: Subscription) -> str:
        return f"{self._service}-{sub.name}"

    async def run(self, sub: Subscription) -> None:
        durable = self.durable_name(sub)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self._max_deliver,
            ack_wait=self._ack_wait,
            filter_subject=f"govperf.{sub.event_type}",
        )
        psub = await self._js.pull_subscribe(
            f"govperf.{sub.event_type}", durable=durable, stream=self._stream, config=config
        )
        while not self._stopping:
            try:
                messages = await psub.fetch(self._batch, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS reconnecting: wait and pull again
                log.warning("fetch for %s failed: %s", durable, exc)
                await asyncio.sleep(1.0)
                continue
            await self.handle_batch(sub, messages)

    async def handle_batch(self, sub: Subscription, messages: list[Msg]) -> None:
        """Apply a fetched batch in one transaction (one commit instead of one per event);
        if anything in it fails, fall back to one transaction per event to isolate the culprit."""
        if len(messages) > 1:
            try:
                events = [CloudEvent.model_validate_json(msg.data) for msg in messages]
                async with self._sessionmaker() as session, session.begin():
                    for event in events:
                        await self._apply(session, sub, event)
            except Exception as exc:  # noqa: BLE001 - isolate the failing event below
                log.info("batch of %s for %s failed (%s); retrying one by one", len(messages), sub.name, exc)
            else:
                await asyncio.gather(*(msg.ack() for msg in messages))
                return
        for msg in messages:
            await self.handle(sub, msg)

    async def _apply(self, session: AsyncSession, sub: Subscription, event: CloudEvent) -> None:
        inserted = await session.execute(
            pg_insert(self._tables.inbox)
            .values(consumer=self.durable_name(sub), event_id=event.id)
            .on_conflict_do_nothing()
            .returning(self._tables.inbox.c.event_id)
        )
        if inserted.first() is not None:
            await sub.handler(session, event)
            CONSUMED.labels(self._service, sub.event_type).inc()

    async def handle(self, sub: Subscription, msg: Msg) -> None:
        durable = self.durable_name(sub)
        deliveries = msg.metadata.num_delivered if msg.metadata else 1
        try:
            event = CloudEvent.model_validate_json(msg.data)
        except ValidationError as exc:
            # A malformed event never becomes valid by retrying: dead-letter it at once.
            await self._dead_letter(durable, None, msg, f"invalid envelope: {exc.error_count()} errors", deliveries)
            await msg.ack()
            return
        try:
            async with self._sessionmaker() as session, session.begin():
                await self._apply(session, sub, event)
        except Exception as exc:  # noqa: BLE001 - decide between retry and dead letter
            log.warning("handler %s failed on %s (delivery %s): %s", durable, event.id, deliveries, exc)
            if deliveries >= self._max_deliver:
                await self._dead_letter(durable, event.id, msg, repr(exc)[:2000], deliveries)
                await msg.ack()
            else:
                await msg.nak(delay=min(0.5 * 2**deliveries, 30.0))
            return
        await msg.ack()

    async def _dead_letter(self, durable: str, event_id: object, msg: Msg, error: str, deliveries: int) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                insert(self._tables.dead_letter).values(
                    consumer=durable,
                    event_id=event_id,
                    subject=msg.subject,
                    payload=msg.data.decode("utf-8", "replace")[:1_000_000],
                    error=error,
                    deliveries=deliveries,
                )
            )
        DEAD_LETTERS.labels(self._service, durable).inc()
