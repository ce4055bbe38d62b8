"""Published results as feedback received them, the case policy of a plan, improvement cases
and their counseling sessions."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.feedback_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class PlanResult(Base):
    """The newest published result version of each plan (an older one arriving late is refused)."""

    __tablename__ = "plan_result"

    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    plan_name: Mapped[str] = mapped_column(Text)
    result_version: Mapped[int] = mapped_column(Integer)
    cycle_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    cycle_label: Mapped[str] = mapped_column(Text)
    previous_cycle_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    owner_org_path: Mapped[str] = mapped_column(Text)
    grade_scale: Mapped[list[str]] = mapped_column(ARRAY(Text))
    results_hash: Mapped[str] = mapped_column(Text)
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ObjectResult(Base):
    """One object's published result (newest version of its plan): the basis cases and decisions cite."""

    __tablename__ = "object_result"
    __table_args__ = (
        UniqueConstraint("plan_id", "object_id"),
        Index("ix_object_result_cycle_object", "cycle_id", "object_id"),
        Index("ix_object_result_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("plan_result.plan_id"))
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    result_version: Mapped[int] = mapped_column(Integer)
    cycle_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    object_kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    peer_group: Mapped[str] = mapped_column(Text)
    composite: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    grade: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)
    peer_count: Mapped[int] = mapped_column(Integer)
    vetoed: Mapped[bool]
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the ObjectResult as published


class PlanCasePolicy(Base):
    """What opens a case for one plan; set by the performance office before or after publication."""

    __tablename__ = "plan_case_policy"

    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    org_path: Mapped[str] = mapped_column(Text)
    min_attainment: Mapped[Decimal] = mapped_column(Numeric(8, 6))
    min_satisfaction: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    grade_cutoff: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


CASE_STATUSES = "'open', 'counseled', 'plan_agreed', 'in_progress', 'verified', 'closed', 'escalated'"


class ImprovementCase(Base):
    __tablename__ = "improvement_case"
    __table_args__ = (
        # One case per object and plan: a redelivered or newer result updates it, never duplicates it.
        UniqueConstraint("plan_id", "object_id"),
        CheckConstraint(f"status IN ({CASE_STATUSES})", name="status"),
        Index("ix_improvement_case_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
        Index("ix_improvement_case_status", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    plan_name: Mapped[str] = mapped_column(Text)
    cycle_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    cycle_label: Mapped[str] = mapped_column(Text)
    result_version: Mapped[int] = mapped_column(Integer)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    object_kind: Mapped[str] = mapped_column(Text)
    object_name: Mapped[str] = mapped_column(Text)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(Text)
    composite: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    rank: Mapped[int] = mapped_column(Integer)
    peer_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, default="open")
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text))
    recommendations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    escalated_from: Mapped[str | None] = mapped_column(Text)
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


class CounselingSession(Base):
    __tablename__ = "counseling_session"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("improvement_case.id"), index=True)
    held_on: Mapped[dt.date] = mapped_column(Date)
    participants: Mapped[list[str]] = mapped_column(ARRAY(Text))
    findings: Mapped[str] = mapped_column(Text)
    agreed_actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    recorded_by: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    acknowledgement: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
