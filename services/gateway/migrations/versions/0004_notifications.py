"""notifications: notices from the services' events (overdue rectification tasks)

Revision ID: 0004_notifications
Revises: 0003_identity_hardening
Create Date: 2026-11-28 22:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_notifications"
down_revision = "0003_identity_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("org_path", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("event_id", name=op.f("uq_notification_event_id")),
        schema="identity",
    )
    op.create_index("ix_notification_org_path_id", "notification", ["org_path", "id"], unique=False, schema="identity")


def downgrade() -> None:
    op.drop_table("notification", schema="identity")
