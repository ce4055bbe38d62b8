"""numbers scoring reads are finite: NaN and infinities never stored (docs/scoring.md)

Revision ID: 0003_scoring_contract
Revises: 0002_part2
Create Date: 2026-11-28 19:35:00
"""

from alembic import op

revision = "0003_scoring_contract"
down_revision = "0002_part2"
branch_labels = None
depends_on = None

# PostgreSQL's numeric holds NaN, which sorts above every number: a range check refuses it.
FINITE = "BETWEEN -1000000000000 AND 1000000000000"
CHECKS = {
    ("data_point", "ck_data_point_value_finite"): f"value {FINITE}",
    ("target", "ck_target_finite"): f"target {FINITE} AND (baseline IS NULL OR baseline {FINITE})",
}


def upgrade() -> None:
    for (table, name), condition in CHECKS.items():
        op.create_check_constraint(name, table, condition, schema="appraisal")


def downgrade() -> None:
    for table, name in CHECKS:
        op.drop_constraint(name, table, type_="check", schema="appraisal")
