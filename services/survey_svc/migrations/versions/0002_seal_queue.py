"""The sealer's queue of recorded, not yet sealed responses (response_unsealed)

Revision ID: 0002_seal_queue
Revises: 0001_survey
Create Date: 2026-11-28 19:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_seal_queue"
down_revision = "0001_survey"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "response_unsealed",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("campaign_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_response_unsealed")),
        schema="survey",
    )
    # Responses recorded before the queue existed and not sealed yet: the queue starts with them.
    op.execute(
        "INSERT INTO survey.response_unsealed (id, campaign_id, content_hash) "
        "SELECT r.id, r.campaign_id, r.content_hash FROM survey.response AS r "
        "WHERE NOT EXISTS (SELECT 1 FROM survey.response_log AS l WHERE l.entity_id = r.id::text)"
    )


def downgrade() -> None:
    op.drop_table("response_unsealed", schema="survey")
