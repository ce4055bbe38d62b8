"""messaging tables v2: per-aggregate ordering, per-row retry and parking, dead-letter status
and raw payloads, retention indexes (shared.messaging.migrations)

Revision ID: 0002_messaging_v2
Revises: 0001
"""

from shared.messaging.migrations import downgrade_messaging_v2_to_v1, upgrade_messaging_v1_to_v2

revision = "0002_messaging_v2"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_messaging_v1_to_v2("identity")


def downgrade() -> None:
    downgrade_messaging_v2_to_v1("identity")
