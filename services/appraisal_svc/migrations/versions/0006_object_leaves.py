"""object leaves: a run's leaf results stored one row per (run, object); result_leaf becomes a view

Revision ID: 0006_object_leaves
Revises: 0005_scoring_speed
Create Date: 2026-11-29 06:30:00
"""

from alembic import op

revision = "0006_object_leaves"
down_revision = "0005_scoring_speed"
branch_labels = None
depends_on = None

ARRAYS = (
    "indicator_codes",
    "subjects",
    "raw_values",
    "targets",
    "baselines",
    "shares",
    "marks",
    "earned",
    "missing",
    "data_point_ids",
)

# A row per line of the arrays, with the columns the table result_leaf had: readers keep their queries.
VIEW = """
CREATE VIEW appraisal.result_leaf AS
SELECT o.run_id, o.object_id, u.indicator_code, u.subject, u.value, u.target, u.baseline, u.share, u.marks,
       u.earned, u.missing, u.data_point_id
FROM appraisal.result_object_leaves o
CROSS JOIN LATERAL unnest(o.indicator_codes, o.subjects, o.raw_values, o.targets, o.baselines, o.shares, o.marks,
                          o.earned, o.missing, o.data_point_ids)
    AS u(indicator_code, subject, value, target, baseline, share, marks, earned, missing, data_point_id)
"""

LEAF_COLUMNS = "indicator_code, subject, value, target, baseline, share, marks, earned, missing, data_point_id"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE appraisal.result_object_leaves (
            run_id uuid NOT NULL,
            object_id uuid NOT NULL,
            indicator_codes text[] NOT NULL,
            subjects text[] NOT NULL,
            raw_values numeric(24, 6)[] NOT NULL,
            targets numeric(24, 6)[] NOT NULL,
            baselines numeric(24, 6)[] NOT NULL,
            shares numeric(60, 40)[] NOT NULL,
            marks numeric(24, 6)[] NOT NULL,
            earned numeric(24, 6)[] NOT NULL,
            missing boolean[] NOT NULL,
            data_point_ids uuid[] NOT NULL,
            CONSTRAINT pk_result_object_leaves PRIMARY KEY (run_id, object_id)
        )
        """
    )
    # A row's arrays take about 10 kB and go to TOAST; stored uncompressed, since compressing them
    # cost more than half of writing a run's rows, and reading one back needs no decompression.
    # No statistics of the arrays' contents either: no query filters on them, and ANALYZE (run by
    # autovacuum after every run) took 3.3 s of CPU per 10,000 rows to gather them.
    op.execute(
        "ALTER TABLE appraisal.result_object_leaves "
        + ", ".join(
            f"ALTER COLUMN {column} SET STORAGE EXTERNAL, ALTER COLUMN {column} SET STATISTICS 0" for column in ARRAYS
        )
    )
    # Existing runs: their lines in the byte order of (indicator code, subject), as the engine writes them.
    order = 'ORDER BY indicator_code COLLATE "C", subject COLLATE "C"'
    op.execute(
        f"""
        INSERT INTO appraisal.result_object_leaves (run_id, object_id, {", ".join(ARRAYS)})
        SELECT run_id, object_id,
               {", ".join(f"array_agg({column} {order})" for column in LEAF_COLUMNS.split(", "))}
        FROM appraisal.result_leaf
        GROUP BY run_id, object_id
        """
    )
    op.execute("DROP TABLE appraisal.result_leaf")
    op.execute(VIEW)


def downgrade() -> None:
    op.execute(
        """
        CREATE TABLE appraisal.result_leaf_lines AS
        SELECT run_id, object_id, indicator_code, subject, value::numeric(24, 6) AS value,
               target::numeric(24, 6) AS target, baseline::numeric(24, 6) AS baseline, share::numeric(60, 40) AS share,
               marks::numeric(24, 6) AS marks, earned::numeric(24, 6) AS earned, missing, data_point_id
        FROM appraisal.result_leaf
        """
    )
    op.execute("DROP VIEW appraisal.result_leaf")
    op.execute("DROP TABLE appraisal.result_object_leaves")
    op.execute("ALTER TABLE appraisal.result_leaf_lines RENAME TO result_leaf")
    for column in ("run_id", "object_id", "indicator_code", "subject", "marks", "earned", "missing"):
        op.execute(f"ALTER TABLE appraisal.result_leaf ALTER COLUMN {column} SET NOT NULL")
    op.create_index("ix_result_leaf_run_object", "result_leaf", ["run_id", "object_id"], schema="appraisal")
