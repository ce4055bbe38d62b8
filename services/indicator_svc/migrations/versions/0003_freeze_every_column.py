"""freeze every column of a published framework and both ends of an indicator move

Revision ID: 0003_freeze_every_column
Revises: 0002_messaging_v2
Create Date: 2026-11-28 16:30:00
"""

from alembic import op

revision = "0003_freeze_every_column"
down_revision = "0002_messaging_v2"
branch_labels = None
depends_on = None

# The first version compared a list of columns (description, published_by, override_reason and
# org_unit_id were missing) and checked only the new framework of a moved indicator. Now a
# published or retired row is compared whole, minus the few columns retiring may change, so a
# column added later is frozen too; and an indicator is checked against its old and new framework.
FREEZE_SQL = """
CREATE OR REPLACE FUNCTION indicator.freeze_published_indicators() RETURNS trigger AS $$
DECLARE frozen text;
BEGIN
  SELECT status INTO frozen FROM indicator.framework
   WHERE status <> 'draft'
     AND id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.framework_id END,
                CASE WHEN TG_OP <> 'DELETE' THEN NEW.framework_id END)
   LIMIT 1;
  IF frozen IS NOT NULL THEN
    RAISE EXCEPTION 'indicators of a % framework are immutable', frozen
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN COALESCE(NEW, OLD);
END $$ LANGUAGE plpgsql;

--
CREATE OR REPLACE FUNCTION indicator.freeze_published_framework() RETURNS trigger AS $$
DECLARE retiring boolean;
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'a % framework cannot be deleted', OLD.status
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status = 'draft' THEN
    RETURN NEW;
  END IF;
  retiring := OLD.status = 'published' AND NEW.status = 'retired'
              AND OLD.retired_at IS NULL AND NEW.retired_at IS NOT NULL;
  IF NOT (retiring OR (NEW.status = OLD.status AND NEW.retired_at IS NOT DISTINCT FROM OLD.retired_at))
     OR (to_jsonb(NEW) - 'status' - 'retired_at' - 'lock_version' - 'updated_at')
        IS DISTINCT FROM (to_jsonb(OLD) - 'status' - 'retired_at' - 'lock_version' - 'updated_at') THEN
    RAISE EXCEPTION 'a % framework is immutable', OLD.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
"""

PREVIOUS_SQL = """
CREATE OR REPLACE FUNCTION indicator.freeze_published_indicators() RETURNS trigger AS $$
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
CREATE OR REPLACE FUNCTION indicator.freeze_published_framework() RETURNS trigger AS $$
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
"""


def upgrade() -> None:
    # One statement per execute: asyncpg prepares each statement.
    for statement in FREEZE_SQL.split("\n--\n"):
        op.execute(statement)


def downgrade() -> None:
    for statement in PREVIOUS_SQL.split("\n--\n"):
        op.execute(statement)
