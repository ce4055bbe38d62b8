"""feedback: improvement cases, counseling, tasks, use of results, joint meetings

Revision ID: 0001_feedback
Revises: 
Create Date: 2026-11-28 16:18:06.107942
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from shared.messaging.migrations import create_messaging_tables_v2

revision = '0001_feedback'
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "feedback"


def upgrade() -> None:
    create_messaging_tables_v2(SCHEMA)
    op.create_table('decision',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('plan_id', sa.UUID(), nullable=False),
    sa.Column('result_version', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.UUID(), nullable=False),
    sa.Column('object_id', sa.UUID(), nullable=False),
    sa.Column('object_kind', sa.Text(), nullable=False),
    sa.Column('object_name', sa.Text(), nullable=False),
    sa.Column('org_path', sa.Text(), nullable=False),
    sa.Column('grade', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('decided_by', sa.Text(), nullable=False),
    sa.Column('decided_as', sa.Text(), nullable=False),
    sa.Column('case_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('commendation', 'performance_bonus', 'admonishment_talk', 'accountability', 'promotion_input', 'training', 'rotation')", name=op.f('ck_decision_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision')),
    schema='feedback'
    )
    op.create_index('ix_decision_org_path', 'decision', ['org_path'], unique=False, schema='feedback', postgresql_ops={'org_path': 'text_pattern_ops'})
    op.create_index('ix_decision_plan_object', 'decision', ['plan_id', 'object_id'], unique=False, schema='feedback')
    op.create_index(op.f('ix_feedback_decision_cycle_id'), 'decision', ['cycle_id'], unique=False, schema='feedback')
    op.create_table('improvement_case',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('plan_id', sa.UUID(), nullable=False),
    sa.Column('plan_name', sa.Text(), nullable=False),
    sa.Column('cycle_id', sa.UUID(), nullable=False),
    sa.Column('cycle_label', sa.Text(), nullable=False),
    sa.Column('result_version', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.UUID(), nullable=False),
    sa.Column('object_kind', sa.Text(), nullable=False),
    sa.Column('object_name', sa.Text(), nullable=False),
    sa.Column('org_unit_id', sa.UUID(), nullable=False),
    sa.Column('org_path', sa.Text(), nullable=False),
    sa.Column('grade', sa.Text(), nullable=False),
    sa.Column('composite', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('peer_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reasons', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('recommendations', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('escalated_from', sa.Text(), nullable=True),
    sa.Column('escalation_reason', sa.Text(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'counseled', 'plan_agreed', 'in_progress', 'verified', 'closed', 'escalated')", name=op.f('ck_improvement_case_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_improvement_case')),
    sa.UniqueConstraint('plan_id', 'object_id', name=op.f('uq_improvement_case_plan_id_object_id')),
    schema='feedback'
    )
    op.create_index('ix_improvement_case_org_path', 'improvement_case', ['org_path'], unique=False, schema='feedback', postgresql_ops={'org_path': 'text_pattern_ops'})
    op.create_index('ix_improvement_case_status', 'improvement_case', ['status'], unique=False, schema='feedback')
    op.create_table('joint_meeting',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('org_unit_id', sa.UUID(), nullable=False),
    sa.Column('org_path', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('members_present', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('agenda', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('resolutions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('recorded_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_joint_meeting')),
    schema='feedback'
    )
    op.create_index('ix_joint_meeting_org_path', 'joint_meeting', ['org_path'], unique=False, schema='feedback', postgresql_ops={'org_path': 'text_pattern_ops'})
    op.create_table('plan_case_policy',
    sa.Column('plan_id', sa.UUID(), nullable=False),
    sa.Column('org_path', sa.Text(), nullable=False),
    sa.Column('min_attainment', sa.Numeric(precision=8, scale=6), nullable=False),
    sa.Column('min_satisfaction', sa.Numeric(precision=9, scale=6), nullable=False),
    sa.Column('grade_cutoff', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('plan_id', name=op.f('pk_plan_case_policy')),
    schema='feedback'
    )
    op.create_table('plan_result',
    sa.Column('plan_id', sa.UUID(), nullable=False),
    sa.Column('plan_name', sa.Text(), nullable=False),
    sa.Column('result_version', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.UUID(), nullable=False),
    sa.Column('cycle_label', sa.Text(), nullable=False),
    sa.Column('previous_cycle_id', sa.UUID(), nullable=True),
    sa.Column('owner_org_path', sa.Text(), nullable=False),
    sa.Column('grade_scale', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('results_hash', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('plan_id', name=op.f('pk_plan_result')),
    schema='feedback'
    )
    op.create_index(op.f('ix_feedback_plan_result_cycle_id'), 'plan_result', ['cycle_id'], unique=False, schema='feedback')
    op.create_table('counseling_session',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('case_id', sa.UUID(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('participants', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('agreed_actions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('recorded_by', sa.Text(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.Text(), nullable=True),
    sa.Column('acknowledgement', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['feedback.improvement_case.id'], name=op.f('fk_counseling_session_case_id_improvement_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counseling_session')),
    schema='feedback'
    )
    op.create_index(op.f('ix_feedback_counseling_session_case_id'), 'counseling_session', ['case_id'], unique=False, schema='feedback')
    op.create_table('object_result',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('plan_id', sa.UUID(), nullable=False),
    sa.Column('object_id', sa.UUID(), nullable=False),
    sa.Column('result_version', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.UUID(), nullable=False),
    sa.Column('object_kind', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('org_unit_id', sa.UUID(), nullable=False),
    sa.Column('org_path', sa.Text(), nullable=False),
    sa.Column('peer_group', sa.Text(), nullable=False),
    sa.Column('composite', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('grade', sa.Text(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('peer_count', sa.Integer(), nullable=False),
    sa.Column('vetoed', sa.Boolean(), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['feedback.plan_result.plan_id'], name=op.f('fk_object_result_plan_id_plan_result')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_object_result')),
    sa.UniqueConstraint('plan_id', 'object_id', name=op.f('uq_object_result_plan_id_object_id')),
    schema='feedback'
    )
    op.create_index('ix_object_result_cycle_object', 'object_result', ['cycle_id', 'object_id'], unique=False, schema='feedback')
    op.create_index('ix_object_result_org_path', 'object_result', ['org_path'], unique=False, schema='feedback', postgresql_ops={'org_path': 'text_pattern_ops'})
    op.create_table('task',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('case_id', sa.UUID(), nullable=True),
    sa.Column('session_id', sa.UUID(), nullable=True),
    sa.Column('meeting_id', sa.UUID(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('owner_unit_id', sa.UUID(), nullable=False),
    sa.Column('owner_org_path', sa.Text(), nullable=False),
    sa.Column('scope_org_path', sa.Text(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('percent_done', sa.SmallInteger(), nullable=False),
    sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ever_overdue', sa.Boolean(), nullable=False),
    sa.Column('verified_by', sa.Text(), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verification_note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'submitted', 'verified')", name=op.f('ck_task_status')),
    sa.CheckConstraint('case_id IS NOT NULL OR meeting_id IS NOT NULL', name=op.f('ck_task_origin')),
    sa.ForeignKeyConstraint(['case_id'], ['feedback.improvement_case.id'], name=op.f('fk_task_case_id_improvement_case')),
    sa.ForeignKeyConstraint(['meeting_id'], ['feedback.joint_meeting.id'], name=op.f('fk_task_meeting_id_joint_meeting')),
    sa.ForeignKeyConstraint(['session_id'], ['feedback.counseling_session.id'], name=op.f('fk_task_session_id_counseling_session')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task')),
    schema='feedback'
    )
    op.create_index(op.f('ix_feedback_task_case_id'), 'task', ['case_id'], unique=False, schema='feedback')
    op.create_index(op.f('ix_feedback_task_meeting_id'), 'task', ['meeting_id'], unique=False, schema='feedback')
    op.create_index('ix_task_due', 'task', ['deadline'], unique=False, schema='feedback', postgresql_where=sa.text("overdue_at IS NULL AND status <> 'verified'"))
    op.create_index('ix_task_owner_org_path', 'task', ['owner_org_path'], unique=False, schema='feedback', postgresql_ops={'owner_org_path': 'text_pattern_ops'})
    op.create_table('task_extension',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('task_id', sa.UUID(), nullable=False),
    sa.Column('requested_deadline', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_task_extension_status')),
    sa.ForeignKeyConstraint(['task_id'], ['feedback.task.id'], name=op.f('fk_task_extension_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_extension')),
    schema='feedback'
    )
    op.create_index(op.f('ix_feedback_task_extension_task_id'), 'task_extension', ['task_id'], unique=False, schema='feedback')
    op.create_index('uq_task_extension_one_pending', 'task_extension', ['task_id'], unique=True, schema='feedback', postgresql_where=sa.text("status = 'pending'"))
    op.create_table('task_progress',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('task_id', sa.UUID(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('percent_done', sa.SmallInteger(), nullable=False),
    sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('author', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['feedback.task.id'], name=op.f('fk_task_progress_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_progress')),
    schema='feedback'
    )
    op.create_index(op.f('ix_feedback_task_progress_task_id'), 'task_progress', ['task_id'], unique=False, schema='feedback')


def downgrade() -> None:
    op.drop_index(op.f('ix_feedback_task_progress_task_id'), table_name='task_progress', schema='feedback')
    op.drop_table('task_progress', schema='feedback')
    op.drop_index('uq_task_extension_one_pending', table_name='task_extension', schema='feedback', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index(op.f('ix_feedback_task_extension_task_id'), table_name='task_extension', schema='feedback')
    op.drop_table('task_extension', schema='feedback')
    op.drop_index('ix_task_owner_org_path', table_name='task', schema='feedback', postgresql_ops={'owner_org_path': 'text_pattern_ops'})
    op.drop_index('ix_task_due', table_name='task', schema='feedback', postgresql_where=sa.text("overdue_at IS NULL AND status <> 'verified'"))
    op.drop_index(op.f('ix_feedback_task_meeting_id'), table_name='task', schema='feedback')
    op.drop_index(op.f('ix_feedback_task_case_id'), table_name='task', schema='feedback')
    op.drop_table('task', schema='feedback')
    op.drop_index('ix_object_result_org_path', table_name='object_result', schema='feedback', postgresql_ops={'org_path': 'text_pattern_ops'})
    op.drop_index('ix_object_result_cycle_object', table_name='object_result', schema='feedback')
    op.drop_table('object_result', schema='feedback')
    op.drop_index(op.f('ix_feedback_counseling_session_case_id'), table_name='counseling_session', schema='feedback')
    op.drop_table('counseling_session', schema='feedback')
    op.drop_index(op.f('ix_feedback_plan_result_cycle_id'), table_name='plan_result', schema='feedback')
    op.drop_table('plan_result', schema='feedback')
    op.drop_table('plan_case_policy', schema='feedback')
    op.drop_index('ix_joint_meeting_org_path', table_name='joint_meeting', schema='feedback', postgresql_ops={'org_path': 'text_pattern_ops'})
    op.drop_table('joint_meeting', schema='feedback')
    op.drop_index('ix_improvement_case_status', table_name='improvement_case', schema='feedback')
    op.drop_index('ix_improvement_case_org_path', table_name='improvement_case', schema='feedback', postgresql_ops={'org_path': 'text_pattern_ops'})
    op.drop_table('improvement_case', schema='feedback')
    op.drop_index(op.f('ix_feedback_decision_cycle_id'), table_name='decision', schema='feedback')
    op.drop_index('ix_decision_plan_object', table_name='decision', schema='feedback')
    op.drop_index('ix_decision_org_path', table_name='decision', schema='feedback', postgresql_ops={'org_path': 'text_pattern_ops'})
    op.drop_table('decision', schema='feedback')
    for table in ("outbox", "outbox_sequence", "inbox", "aggregate_version", "dead_letter", "idempotency_key"):
        op.drop_table(table, schema=SCHEMA)
