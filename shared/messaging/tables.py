"""Per-schema infrastructure tables: outbox (and its per-aggregate sequence counter), inbox,
consumed aggregate versions, dead letters, idempotency keys.

Each service adds them to its own MetaData, so they live in its own schema. This is the one
definition; migrations create and change them through ``shared.messaging.migrations``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

DEAD_LETTER_STATUSES = ("open", "replay_requested", "replayed", "discarded")


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    outbox_sequence: Table
    inbox: Table
    aggregate_version: Table
    dead_letter: Table
    idempotency: Table


def messaging_tables(metadata: MetaData) -> MessagingTables:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),  # = CloudEvent id = Nats-Msg-Id
        Column("subject", Text, nullable=False),
        Column("envelope", JSONB, nullable=False),
        # Ordering key and its gapless position, assigned by outbox.add under the counter's row lock,
        # so per aggregate the sequence is the commit order (created_at is only the transaction start).
        Column("aggregate_id", Text, nullable=False),
        Column("sequence", BigInteger, nullable=False),
        Column("payload_bytes", Integer, nullable=False, server_default="0"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # Parked after the attempt cap: kept back (and its aggregate's later events with it)
        # until an operator replays or discards it.
        Column("parked_at", DateTime(timezone=True)),
        Column("discarded_at", DateTime(timezone=True)),
        UniqueConstraint("aggregate_id", "sequence", name="uq_outbox_aggregate_sequence"),
        # The relay claims by state, so partial indexes keep the claim and the retention sweep
        # cheap however long the history.
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where=text("published_at IS NULL AND discarded_at IS NULL AND parked_at IS NULL"),
        ),
        Index("ix_outbox_published_at", "published_at", postgresql_where=text("published_at IS NOT NULL")),
    )
    outbox_sequence = Table(
        "outbox_sequence",
        metadata,
        Column("aggregate_id", Text, primary_key=True),
        Column("last_sequence", BigInteger, nullable=False),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("ix_inbox_processed_at", "processed_at"),
    )
    aggregate_version = Table(
        "aggregate_version",
        metadata,
        # The highest sequence of each aggregate a consumer applied: an older one arriving later is stale.
        Column("consumer", Text, primary_key=True),
        Column("aggregate_id", Text, primary_key=True),
        Column("sequence", BigInteger, nullable=False),
    )
    dead_letter = Table(
        "dead_letter",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("consumer", Text, nullable=False),
        Column("event_id", UUID(as_uuid=True)),
        Column("subject", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),  # the message bytes exactly as received
        Column("error", Text, nullable=False),
        Column("deliveries", SmallInteger, nullable=False),
        Column("status", Text, nullable=False, server_default="open"),
        Column("replays", Integer, nullable=False, server_default="0"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("resolved_at", DateTime(timezone=True)),
        CheckConstraint("status IN ('open', 'replay_requested', 'replayed', 'discarded')", name="status"),
        Index("ix_dead_letter_status", "status", "id"),
    )
    idempotency = Table(
        "idempotency_key",
        metadata,
        Column("subject", Text, primary_key=True),
        Column("key", Text, primary_key=True),
        Column("request_hash", Text, nullable=False),
        Column("status_code", SmallInteger, nullable=False),
        Column("response", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("ix_idempotency_key_created_at", "created_at"),
    )
    return MessagingTables(outbox, outbox_sequence, inbox, aggregate_version, dead_letter, idempotency)
