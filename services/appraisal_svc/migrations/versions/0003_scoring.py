"""scoring: result rows without a per-row key check on their run

Revision ID: 0003_scoring
Revises: 0003_scoring_contract
Create Date: 2026-11-28 19:30:00
"""

from alembic import op

revision = "0003_scoring"
down_revision = "0003_scoring_contract"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A run writes up to millions of leaf rows in one INSERT ... SELECT; the foreign key's per-row
    # trigger took a third of that time. The run row is written first in the same transaction and
    # runs are never deleted (a plan is never deleted either).
    op.drop_constraint("fk_result_leaf_run_id_scoring_run", "result_leaf", schema="appraisal", type_="foreignkey")
    op.drop_constraint("fk_result_subject_run_id_scoring_run", "result_subject", schema="appraisal", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key(
        "fk_result_subject_run_id_scoring_run",
        "result_subject",
        "scoring_run",
        ["run_id"],
        ["id"],
        source_schema="appraisal",
        referent_schema="appraisal",
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_result_leaf_run_id_scoring_run",
        "result_leaf",
        "scoring_run",
        ["run_id"],
        ["id"],
        source_schema="appraisal",
        referent_schema="appraisal",
        ondelete="CASCADE",
    )
