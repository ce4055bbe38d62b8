"""identity hardening: per-address login throttling, external identities, the org-unit copy,
first-admin password change

Revision ID: 0003_identity_hardening
Revises: 0002_messaging_v2
Create Date: 2026-11-28 16:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_identity_hardening'
down_revision = '0002_messaging_v2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'user_account',
        sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False),
        schema='identity',
    )
    op.create_table('login_throttle',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['identity.user_account.id'], name=op.f('fk_login_throttle_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'source', name=op.f('pk_login_throttle')),
    schema='identity'
    )
    op.create_table('external_identity',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('issuer', sa.Text(), nullable=False),
    sa.Column('external_subject', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('roles', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('org_unit_id', sa.UUID(), nullable=False),
    sa.Column('org_path', sa.Text(), nullable=False),
    sa.Column('security_stamp', sa.Integer(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Text(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_identity')),
    sa.UniqueConstraint('subject', name=op.f('uq_external_identity_subject')),
    schema='identity'
    )
    op.create_table('org_unit',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('parent_id', sa.UUID(), nullable=True),
    sa.Column('org_path', sa.Text(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_org_unit')),
    schema='identity'
    )
    op.create_index('ix_org_unit_org_path', 'org_unit', ['org_path'], unique=False, schema='identity')
    # The consistency check looks accounts up by org unit as well as by path.
    op.create_index('ix_user_account_org_unit_id', 'user_account', ['org_unit_id'], unique=False, schema='identity')


def downgrade() -> None:
    op.drop_index('ix_user_account_org_unit_id', table_name='user_account', schema='identity')
    op.drop_index('ix_org_unit_org_path', table_name='org_unit', schema='identity')
    op.drop_table('org_unit', schema='identity')
    op.drop_table('external_identity', schema='identity')
    op.drop_table('login_throttle', schema='identity')
    op.drop_column('user_account', 'must_change_password', schema='identity')
