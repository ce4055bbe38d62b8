"""hash rules: a run records the version of the hash rules its hashes follow

Revision ID: 0007_hash_rules
Revises: 0006_object_leaves
Create Date: 2026-11-29 07:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_hash_rules"
down_revision = "0006_object_leaves"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scoring_run", sa.Column("hash_rules", sa.Integer(), nullable=True), schema="appraisal")
    # Every run hashed before this revision hashed its leaf lines line by line: rules 1.
    op.execute("UPDATE appraisal.scoring_run SET hash_rules = 1 WHERE results_hash IS NOT NULL")


def downgrade() -> None:
    op.drop_column("scoring_run", "hash_rules", schema="appraisal")
