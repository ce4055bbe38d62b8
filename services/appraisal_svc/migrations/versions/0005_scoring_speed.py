"""scoring speed: result_leaf keyed by a narrow (run, object) index instead of a 4-column primary key

Revision ID: 0005_scoring_speed
Revises: 0004_case_closures
Create Date: 2026-11-28 22:10:00
"""

from alembic import op

revision = "0005_scoring_speed"
down_revision = "0004_case_closures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A run writes a million leaf rows; maintaining the (run, object, indicator, subject) key cost
    # about as much as writing the rows. Every reader asks for one run's objects, which the narrow
    # index serves; uniqueness of (object, leaf, subject) within a run holds by construction.
    # Existing rows stay as they are: only the index changes.
    op.create_index("ix_result_leaf_run_object", "result_leaf", ["run_id", "object_id"], schema="appraisal")
    op.drop_constraint("pk_result_leaf", "result_leaf", schema="appraisal", type_="primary")


def downgrade() -> None:
    op.create_primary_key(
        "pk_result_leaf", "result_leaf", ["run_id", "object_id", "indicator_code", "subject"], schema="appraisal"
    )
    op.drop_index("ix_result_leaf_run_object", table_name="result_leaf", schema="appraisal")
