"""Experts assigned to rate qualitative leaves, and their sealed ratings."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column
from shared.ids import new_id


class ExpertAssignment(Base):
    """An expert (a user, by subject claim) may rate these leaves of this object for this
    evaluation subject. The conflict check (no rating of one's own unit or its ancestors) runs
    when the assignment is made."""

    __tablename__ = "expert_assignment"
    __table_args__ = (UniqueConstraint("plan_id", "expert", "object_id", "indicator_code", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("plan.id", ondelete="CASCADE"))
    expert: Mapped[str] = mapped_column(Text)  # the rater's user id (token subject)
    expert_org_path: Mapped[str] = mapped_column(Text)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("appraisal_object.id"))
    indicator_code: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)  # the evaluation subject the rating counts for
    assigned_by: Mapped[str] = mapped_column(Text)
    assigned_at: Mapped[dt.datetime] = created_at_column()


class ExpertRating(Base):
    """A grade given under an assignment; sealed (readable by nobody but its author) until the
    plan's rating window closes. Scoring reads the latest rating per assignment."""

    __tablename__ = "expert_rating"
    __table_args__ = (Index("ix_expert_rating_plan", "plan_id", "object_id", "indicator_code", "subject"),)

    assignment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("expert_assignment.id", ondelete="CASCADE"), primary_key=True
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    indicator_code: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # sha256 over (nonce, assignment, grade, comment): what the audit log records while sealed.
    seal_nonce: Mapped[str | None] = mapped_column(Text)
    commitment: Mapped[str | None] = mapped_column(Text)


class VetoEvent(Base):
    """An event that may cap an object's grade (by stable code, see the plan's veto leaves)."""

    __tablename__ = "veto_event"
    __table_args__ = (Index("ix_veto_event_plan_object", "plan_id", "object_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("plan.id", ondelete="CASCADE"))
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("appraisal_object.id"))
    code: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[dt.date | None] = mapped_column()
    description: Mapped[str] = mapped_column(Text)
    evidence_sha256: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = created_at_column()
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by: Mapped[str | None] = mapped_column(Text)
    withdraw_reason: Mapped[str | None] = mapped_column(Text)


class SurveyCell(Base):
    """The last survey analysis applied to one (object, metric, period): an older or equal
    analysis version of the same campaign is ignored, and a suppressed cell leaves no data point
    but is remembered here."""

    __tablename__ = "survey_cell"

    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    metric: Mapped[str] = mapped_column(Text, primary_key=True)
    period: Mapped[str] = mapped_column(Text, primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    analysis_version: Mapped[int] = mapped_column(Integer)
    finalized_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    suppressed: Mapped[bool] = mapped_column(Boolean)
    results_hash: Mapped[str] = mapped_column(Text)
    data_point_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    received_at: Mapped[dt.datetime] = created_at_column()
