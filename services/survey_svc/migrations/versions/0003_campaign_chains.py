"""One hash chain per campaign (response_chain, keyed by campaign id); every response is sealed
again into its campaign's chain. The old all-campaigns response_log stays as it was.

Revision ID: 0003_campaign_chains
Revises: 0002_seal_queue
Create Date: 2026-11-28 19:50:00
"""

import sqlalchemy as sa
from alembic import op

from shared.hashchain import append_only_sql

revision = "0003_campaign_chains"
down_revision = "0002_seal_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "response_chain",
        sa.Column("chain_key", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.Text(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("chain_key", "seq", name=op.f("pk_response_chain")),
        sa.UniqueConstraint("chain_key", "prev_hash", name=op.f("uq_response_chain_chain_key_prev_hash")),
        schema="survey",
    )
    op.create_index("ix_response_chain_entity_id", "response_chain", ["entity_id"], unique=False, schema="survey")
    for statement in append_only_sql("survey", "response_chain"):
        op.execute(statement)
    # The sealer puts every response into its campaign's chain (those queued already stay queued).
    op.execute(
        "INSERT INTO survey.response_unsealed (id, campaign_id, content_hash) "
        "SELECT id, campaign_id, content_hash FROM survey.response ON CONFLICT (id) DO NOTHING"
    )


def downgrade() -> None:
    op.execute('DROP FUNCTION survey."response_chain_append_only"() CASCADE')
    op.drop_index("ix_response_chain_entity_id", table_name="response_chain", schema="survey")
    op.drop_table("response_chain", schema="survey")
