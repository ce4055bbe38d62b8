"""Schema changes of the messaging tables, for every service's alembic revisions.

Migrations are snapshots: each function here creates or changes the tables to one version of
``shared.messaging.tables`` and never changes afterwards (a later shape gets a new function).

- ``create_messaging_tables_v2(schema)``: a new service's first migration creates them at once.
- ``upgrade_messaging_v1_to_v2(schema)``: services created with the first shape (indicator,
  identity) move to per-aggregate ordering, per-row retry and parking, dead-letter status and
  raw payloads, and the retention indexes.
"""

# The SQL names only the schema, a constant of the calling revision, never outside input.
# ruff: noqa: S608

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def _outbox_v2_indexes(schema: str) -> None:
    op.create_unique_constraint("uq_outbox_aggregate_sequence", "outbox", ["aggregate_id", "sequence"], schema=schema)
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL AND discarded_at IS NULL AND parked_at IS NULL"),
    )
    op.create_index(
        "ix_outbox_published_at",
        "outbox",
        ["published_at"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )


def _new_tables_v2(schema: str) -> None:
    op.create_table(
        "outbox_sequence",
        sa.Column("aggregate_id", sa.Text(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id", name="pk_outbox_sequence"),
        schema=schema,
    )
    op.create_table(
        "aggregate_version",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("aggregate_id", sa.Text(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "aggregate_id", name="pk_aggregate_version"),
        schema=schema,
    )


def create_messaging_tables_v2(schema: str) -> None:
    """All messaging tables in their version-2 shape (a new service's first migration)."""
    now = sa.text("now()")
    op.create_table(
        "outbox",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("envelope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("aggregate_id", sa.Text(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        schema=schema,
    )
    _outbox_v2_indexes(schema)
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
        schema=schema,
    )
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"], schema=schema)
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("replays", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'replay_requested', 'replayed', 'discarded')", name="ck_dead_letter_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letter"),
        schema=schema,
    )
    op.create_index("ix_dead_letter_status", "dead_letter", ["status", "id"], schema=schema)
    op.create_table(
        "idempotency_key",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("subject", "key", name="pk_idempotency_key"),
        schema=schema,
    )
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"], schema=schema)
    _new_tables_v2(schema)


def upgrade_messaging_v1_to_v2(schema: str) -> None:
    q = f'"{schema}"'
    now = sa.text("now()")
    # Outbox: ordering key and sequence (existing rows numbered in their creation order).
    op.add_column("outbox", sa.Column("aggregate_id", sa.Text(), nullable=True), schema=schema)
    op.add_column("outbox", sa.Column("sequence", sa.BigInteger(), nullable=True), schema=schema)
    op.add_column("outbox", sa.Column("payload_bytes", sa.Integer(), server_default="0", nullable=False), schema=schema)
    op.add_column(
        "outbox",
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        schema=schema,
    )
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
    op.add_column("outbox", sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
    op.execute(
        f"""
        UPDATE {q}.outbox o SET aggregate_id = n.aggregate_id, sequence = n.sequence,
               payload_bytes = octet_length(o.envelope::text)
          FROM (SELECT id, COALESCE(envelope->>'subject', id::text) AS aggregate_id,
                       row_number() OVER (PARTITION BY COALESCE(envelope->>'subject', id::text)
                                          ORDER BY created_at, id) AS sequence
                  FROM {q}.outbox) n
         WHERE o.id = n.id
        """
    )
    op.alter_column("outbox", "aggregate_id", nullable=False, schema=schema)
    op.alter_column("outbox", "sequence", nullable=False, schema=schema)
    op.drop_index(f"ix_{schema}_outbox_created_at", table_name="outbox", schema=schema)
    _outbox_v2_indexes(schema)
    _new_tables_v2(schema)
    op.execute(
        f"""
        INSERT INTO {q}.outbox_sequence (aggregate_id, last_sequence)
        SELECT aggregate_id, max(sequence) FROM {q}.outbox GROUP BY aggregate_id
        """
    )
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"], schema=schema)
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"], schema=schema)
    # Dead letters: the payload as the bytes received (text could not hold NUL), a status.
    op.execute(f"ALTER TABLE {q}.dead_letter ALTER COLUMN payload TYPE bytea USING convert_to(payload, 'UTF8')")
    op.execute(f"ALTER TABLE {q}.dead_letter ALTER COLUMN id DROP DEFAULT")
    op.execute(f"DROP SEQUENCE IF EXISTS {q}.dead_letter_id_seq")
    op.execute(f"ALTER TABLE {q}.dead_letter ALTER COLUMN id TYPE bigint")
    op.execute(
        f"""
        DO $$ DECLARE start bigint; BEGIN
          SELECT COALESCE(max(id), 0) + 1 INTO start FROM {q}.dead_letter;
          EXECUTE format('ALTER TABLE {q}.dead_letter ALTER COLUMN id '
                         'ADD GENERATED BY DEFAULT AS IDENTITY (START WITH %s)', start);
        END $$
        """
    )
    op.add_column("dead_letter", sa.Column("status", sa.Text(), server_default="open", nullable=False), schema=schema)
    op.add_column("dead_letter", sa.Column("replays", sa.Integer(), server_default="0", nullable=False), schema=schema)
    op.add_column("dead_letter", sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
    op.create_check_constraint(
        "ck_dead_letter_status",
        "dead_letter",
        "status IN ('open', 'replay_requested', 'replayed', 'discarded')",
        schema=schema,
    )
    op.create_index("ix_dead_letter_status", "dead_letter", ["status", "id"], schema=schema)


def downgrade_messaging_v2_to_v1(schema: str) -> None:
    q = f'"{schema}"'
    op.drop_index("ix_dead_letter_status", table_name="dead_letter", schema=schema)
    op.drop_constraint("ck_dead_letter_status", "dead_letter", schema=schema)
    for column in ("resolved_at", "replays", "status"):
        op.drop_column("dead_letter", column, schema=schema)
    op.execute(f"ALTER TABLE {q}.dead_letter ALTER COLUMN id DROP IDENTITY")
    op.execute(f"ALTER TABLE {q}.dead_letter ALTER COLUMN id TYPE integer")
    op.execute(f"CREATE SEQUENCE {q}.dead_letter_id_seq OWNED BY {q}.dead_letter.id")
    op.execute(
        f"SELECT setval('{schema}.dead_letter_id_seq', COALESCE((SELECT max(id) FROM {q}.dead_letter), 0) + 1, false)"
    )
    op.execute(f"ALTER TABLE {q}.dead_letter ALTER COLUMN id SET DEFAULT nextval('{schema}.dead_letter_id_seq')")
    op.execute(f"ALTER TABLE {q}.dead_letter ALTER COLUMN payload TYPE text USING convert_from(payload, 'UTF8')")
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key", schema=schema)
    op.drop_index("ix_inbox_processed_at", table_name="inbox", schema=schema)
    op.drop_table("aggregate_version", schema=schema)
    op.drop_table("outbox_sequence", schema=schema)
    op.drop_index("ix_outbox_published_at", table_name="outbox", schema=schema)
    op.drop_index("ix_outbox_due", table_name="outbox", schema=schema)
    op.drop_constraint("uq_outbox_aggregate_sequence", "outbox", schema=schema)
    for column in ("discarded_at", "parked_at", "next_attempt_at", "payload_bytes", "sequence", "aggregate_id"):
        op.drop_column("outbox", column, schema=schema)
    op.create_index(
        f"ix_{schema}_outbox_created_at",
        "outbox",
        ["created_at"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
