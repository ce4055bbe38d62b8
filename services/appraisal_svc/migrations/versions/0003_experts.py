"""experts: sealed-rating commitments, veto withdrawal reasons, survey cells received

Revision ID: 0003_experts
Revises: 0003_scoring
Create Date: 2026-11-28 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_experts"
down_revision = "0003_scoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A rating is logged as a salted commitment while sealed; the salt is shown once the window closes.
    op.add_column("expert_rating", sa.Column("seal_nonce", sa.Text(), nullable=True), schema="appraisal")
    op.add_column("expert_rating", sa.Column("commitment", sa.Text(), nullable=True), schema="appraisal")
    op.add_column("veto_event", sa.Column("withdraw_reason", sa.Text(), nullable=True), schema="appraisal")
    op.create_table(
        "survey_cell",
        sa.Column("object_id", sa.UUID(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("analysis_version", sa.Integer(), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("results_hash", sa.Text(), nullable=False),
        sa.Column("data_point_id", sa.UUID(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("object_id", "metric", "period", name=op.f("pk_survey_cell")),
        schema="appraisal",
    )


def downgrade() -> None:
    op.drop_table("survey_cell", schema="appraisal")
    op.drop_column("veto_event", "withdraw_reason", schema="appraisal")
    op.drop_column("expert_rating", "commitment", schema="appraisal")
    op.drop_column("expert_rating", "seal_nonce", schema="appraisal")
