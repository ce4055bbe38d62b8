"""Scoring runs and the result versions they write (see docs/scoring.md).

Result rows are written set-based, never one by one; a run's rows are immutable once the run
succeeded, and every run of a plan is a new version, the older ones staying readable."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column
from shared.ids import new_id


class ScoringRun(Base):
    __tablename__ = "scoring_run"
    __table_args__ = (
        UniqueConstraint("plan_id", "version"),
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        # One run at a time per plan, across replicas.
        Index(
            "uq_scoring_run_active", "plan_id", unique=True, postgresql_where=text("status IN ('queued', 'running')")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("plan.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)  # result version, 1, 2, ... per plan
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(Text, default="queued")
    reason: Mapped[str] = mapped_column(Text)  # "requested", or the objection ruling that asked for it
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[dt.datetime] = created_at_column()
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    object_count: Mapped[int | None] = mapped_column(Integer)
    value_count: Mapped[int | None] = mapped_column(Integer)
    inputs_hash: Mapped[str | None] = mapped_column(Text)
    results_hash: Mapped[str | None] = mapped_column(Text)
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # seconds per phase
    error: Mapped[str | None] = mapped_column(Text)


class Result(Base):
    """One object's result in one run."""

    __tablename__ = "result"

    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("scoring_run.id", ondelete="CASCADE"), primary_key=True
    )
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    peer_group: Mapped[str] = mapped_column(Text)
    base: Mapped[Decimal] = mapped_column(Numeric(24, 6))  # sum of the subject contributions
    bonus: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    deduction: Mapped[Decimal] = mapped_column(Numeric(24, 6))  # positive
    composite: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    grade_by_score: Mapped[str] = mapped_column(Text)
    veto_cap: Mapped[str | None] = mapped_column(Text)
    veto_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    quota_demoted: Mapped[bool] = mapped_column(Boolean, default=False)
    grade: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)
    peer_count: Mapped[int] = mapped_column(Integer)


class ResultSubject(Base):
    """One object's score for one evaluation subject in one run."""

    __tablename__ = "result_subject"

    # No foreign key (as result_leaf): written set-based right after its run row, never deleted.
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    weight: Mapped[Decimal] = mapped_column(Numeric(24, 12))  # after renormalization over present subjects
    earned: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    marks: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    score: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))  # out of 100; null when missing
    contribution: Mapped[Decimal] = mapped_column(Numeric(24, 6))


class ResultLeaf(Base):
    """One leaf of one object for one subject in one run ('' for bonus, deduction and veto)."""

    __tablename__ = "result_leaf"
    # No primary key constraint and no foreign key: a run writes a million rows at once, and a
    # 4-column key of two uuids and two texts (118 MB per million rows) cost as much as the rows.
    # Readers ask for one run's objects, which the narrow (run, object) index serves (deduplicated,
    # 7 MB per million rows); (object, leaf, subject) is unique within a run by construction (plan
    # objects, plan leaves and a leaf's subjects are each unique), which a test checks (0004).
    __table_args__ = (Index("ix_result_leaf_run_object", "run_id", "object_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    indicator_code: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    value: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    target: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    baseline: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    share: Mapped[Decimal | None] = mapped_column(Numeric(60, 40))  # null when missing
    marks: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    earned: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    missing: Mapped[bool] = mapped_column(Boolean, default=False)
    data_point_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    # The row's identity for the ORM (no constraint in the database, see above).
    __mapper_args__ = {"primary_key": [run_id, object_id, indicator_code, subject]}
