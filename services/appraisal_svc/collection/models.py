"""Data points (one revision per row, every revision kept) and the anomaly flags raised on them."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class DataPoint(Base):
    __tablename__ = "data_point"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'verified', 'accepted', 'rejected', 'superseded')", name="status"),
        CheckConstraint("source IN ('unit', 'authoritative', 'survey')", name="source"),
        # Scoring never meets NaN (which numeric can hold) nor an unbounded value (docs/scoring.md).
        CheckConstraint("value BETWEEN -1000000000000 AND 1000000000000", name="value_finite"),
        # One current revision per (object, metric, period, source); older ones stay for the record.
        Index(
            "uq_data_point_current",
            "object_id",
            "metric",
            "period",
            "source",
            unique=True,
            postgresql_where=text("current"),
        ),
        Index("uq_data_point_revision", "object_id", "metric", "period", "source", "revision", unique=True),
        Index("ix_data_point_metric_period", "metric", "period", postgresql_where=text("current")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    # No foreign key: a per-row key check halves bulk submission speed. Every write path checks
    # the objects first (set-based), and objects are never deleted.
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    metric: Mapped[str] = mapped_column(Text)
    period: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    value: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    unit: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    evidence_sha256: Mapped[str | None] = mapped_column(Text)
    evidence_name: Mapped[str | None] = mapped_column(Text)
    evidence_size: Mapped[int | None] = mapped_column(BigInteger)
    evidence_type: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="submitted")
    submitted_by: Mapped[str] = mapped_column(Text)
    submitted_org_path: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    verified_by: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


class DataFlag(Base):
    __tablename__ = "data_flag"
    __table_args__ = (
        CheckConstraint("rule IN ('robust_z', 'history', 'authoritative', 'late', 'manual')", name="rule"),
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        # Re-scanning is idempotent: one open flag per rule and data point.
        Index("uq_data_flag_open", "data_point_id", "rule", unique=True, postgresql_where=text("status = 'open'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    data_point_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("data_point.id"), index=True)
    rule: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, default="open")
    raised_by: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[dt.datetime] = created_at_column()
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_note: Mapped[str | None] = mapped_column(Text)


class EvidenceFile(Base):
    """What the content-addressed store holds for this service: the bytes live under their sha256."""

    __tablename__ = "evidence_file"

    sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(Text)
    uploaded_org_path: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[dt.datetime] = created_at_column()
