"""case closures: feedback.case.closed recorded against the appraised object

Revision ID: 0004_case_closures
Revises: 0003_experts
Create Date: 2026-11-28 22:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_case_closures"
down_revision = "0003_experts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "improvement_closure",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("object_id", sa.UUID(), nullable=False),
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("cycle_id", sa.UUID(), nullable=False),
        sa.Column("cycle_label", sa.Text(), nullable=False),
        sa.Column("result_version", sa.Integer(), nullable=False),
        sa.Column("org_path", sa.Text(), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("tasks_total", sa.Integer(), nullable=False),
        sa.Column("tasks_verified", sa.Integer(), nullable=False),
        sa.Column("tasks_overdue", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "tasks_verified <= tasks_total AND tasks_overdue <= tasks_total",
            name=op.f("ck_improvement_closure_task_counts"),
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_improvement_closure")),
        schema="appraisal",
    )
    op.create_index(
        op.f("ix_appraisal_improvement_closure_object_id"),
        "improvement_closure",
        ["object_id"],
        unique=False,
        schema="appraisal",
    )


def downgrade() -> None:
    op.drop_table("improvement_closure", schema="appraisal")
