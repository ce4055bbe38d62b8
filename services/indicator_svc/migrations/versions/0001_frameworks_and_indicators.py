"""frameworks and indicators

Revision ID: 0001
Revises:
Create Date: 2026-11-28 09:22:37.842417
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# Defence in depth behind the service rules: published content cannot change even by hand.
FREEZE_SQL = """
CREATE FUNCTION indicator.freeze_published_indicators() RETURNS trigger AS $$
DECLARE parent_status text;
BEGIN
  SELECT status INTO parent_status FROM indicator.framework
   WHERE id = COALESCE(NEW.framework_id, OLD.framework_id);
  IF parent_status IS NOT NULL AND parent_status <> 'draft' THEN
    RAISE EXCEPTION 'indicators of a % framework are immutable', parent_status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN COALESCE(NEW, OLD);
END $$ LANGUAGE plpgsql;

--
CREATE TRIGGER freeze_published_indicators
BEFORE INSERT OR UPDATE OR DELETE ON indicator.indicator
FOR EACH ROW EXECUTE FUNCTION indicator.freeze_published_indicators();

--
CREATE FUNCTION indicator.freeze_published_framework() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'a % framework cannot be deleted', OLD.status
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status <> 'draft' AND (
       NEW.snapshot IS DISTINCT FROM OLD.snapshot OR NEW.content_hash IS DISTINCT FROM OLD.content_hash
    OR NEW.code IS DISTINCT FROM OLD.code OR NEW.name IS DISTINCT FROM OLD.name
    OR NEW.version IS DISTINCT FROM OLD.version OR NEW.lineage_id IS DISTINCT FROM OLD.lineage_id
    OR NEW.total_points IS DISTINCT FROM OLD.total_points OR NEW.policy IS DISTINCT FROM OLD.policy
    OR NEW.org_path IS DISTINCT FROM OLD.org_path OR NEW.published_at IS DISTINCT FROM OLD.published_at
    OR NOT (NEW.status = OLD.status OR (OLD.status = 'published' AND NEW.status = 'retired'))) THEN
    RAISE EXCEPTION 'a % framework is immutable', OLD.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;

--
CREATE TRIGGER freeze_published_framework
BEFORE UPDATE OR DELETE ON indicator.framework
FOR EACH ROW EXECUTE FUNCTION indicator.freeze_published_framework();
"""


def upgrade() -> None:
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.SmallInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
        schema="indicator",
    )
    op.create_table(
        "framework",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("lineage_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("org_unit_id", sa.UUID(), nullable=False),
        sa.Column("org_path", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("total_points", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("policy", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("derived_from_id", sa.UUID(), nullable=True),
        sa.Column("previous_version_id", sa.UUID(), nullable=True),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("content_hash", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.Text(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'retired')",
            name=op.f("ck_framework_status"),
        ),
        sa.ForeignKeyConstraint(
            ["derived_from_id"],
            ["indicator.framework.id"],
            name=op.f("fk_framework_derived_from_id_framework"),
        ),
        sa.ForeignKeyConstraint(
            ["previous_version_id"],
            ["indicator.framework.id"],
            name=op.f("fk_framework_previous_version_id_framework"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_framework")),
        sa.UniqueConstraint(
            "lineage_id", "version", name=op.f("uq_framework_lineage_id_version")
        ),
        sa.UniqueConstraint(
            "org_path",
            "code",
            "version",
            name=op.f("uq_framework_org_path_code_version"),
        ),
        schema="indicator",
    )
    op.create_index(
        "ix_framework_org_path",
        "framework",
        ["org_path"],
        unique=False,
        schema="indicator",
        postgresql_ops={"org_path": "text_pattern_ops"},
    )
    op.create_index(
        op.f("ix_indicator_framework_lineage_id"),
        "framework",
        ["lineage_id"],
        unique=False,
        schema="indicator",
    )
    op.create_index(
        "uq_framework_one_draft_per_lineage",
        "framework",
        ["lineage_id"],
        unique=True,
        schema="indicator",
        postgresql_where=sa.text("status = 'draft'"),
    )
    op.create_table(
        "idempotency_key",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("subject", "key", name=op.f("pk_idempotency_key")),
        schema="indicator",
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_inbox")),
        schema="indicator",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("envelope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="indicator",
    )
    op.create_index(
        op.f("ix_indicator_outbox_created_at"),
        "outbox",
        ["created_at"],
        unique=False,
        schema="indicator",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "indicator",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("framework_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("weight", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("nature_tags", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("scoring", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("evaluation_subjects", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=True),
        sa.Column("formula", sa.Text(), nullable=True),
        sa.Column("responsible_unit", sa.Text(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["framework_id"],
            ["indicator.framework.id"],
            name=op.f("fk_indicator_framework_id_framework"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator")),
        sa.UniqueConstraint(
            "framework_id", "code", name=op.f("uq_indicator_framework_id_code")
        ),
        schema="indicator",
    )
    op.create_index(
        op.f("ix_indicator_indicator_framework_id"),
        "indicator",
        ["framework_id"],
        unique=False,
        schema="indicator",
    )
    # One statement per execute: asyncpg prepares each statement.
    for statement in FREEZE_SQL.split("\n--\n"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER freeze_published_framework ON indicator.framework")
    op.execute("DROP TRIGGER freeze_published_indicators ON indicator.indicator")
    op.execute("DROP FUNCTION indicator.freeze_published_framework()")
    op.execute("DROP FUNCTION indicator.freeze_published_indicators()")
    op.drop_index(
        op.f("ix_indicator_indicator_framework_id"),
        table_name="indicator",
        schema="indicator",
    )
    op.drop_table("indicator", schema="indicator")
    op.drop_index(
        op.f("ix_indicator_outbox_created_at"),
        table_name="outbox",
        schema="indicator",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="indicator")
    op.drop_table("inbox", schema="indicator")
    op.drop_table("idempotency_key", schema="indicator")
    op.drop_index(
        "uq_framework_one_draft_per_lineage",
        table_name="framework",
        schema="indicator",
        postgresql_where=sa.text("status = 'draft'"),
    )
    op.drop_index(
        op.f("ix_indicator_framework_lineage_id"),
        table_name="framework",
        schema="indicator",
    )
    op.drop_index(
        "ix_framework_org_path",
        table_name="framework",
        schema="indicator",
        postgresql_ops={"org_path": "text_pattern_ops"},
    )
    op.drop_table("framework", schema="indicator")
    op.drop_table("dead_letter", schema="indicator")
