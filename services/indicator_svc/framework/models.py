"""Frameworks and their indicator rows. Published rows are frozen (service rules and DB triggers)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ARRAY,
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

from services.indicator_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class FrameworkStatus(StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


class Framework(Base):
    __tablename__ = "framework"
    __table_args__ = (
        UniqueConstraint("lineage_id", "version"),
        UniqueConstraint("org_path", "code", "version"),
        CheckConstraint("status IN ('draft', 'published', 'retired')", name="status"),
        # At most one open draft per lineage: a second "new version" is a 409, not a fork.
        Index(
            "uq_framework_one_draft_per_lineage", "lineage_id", unique=True, postgresql_where=text("status = 'draft'")
        ),
        Index("ix_framework_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    lineage_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    version: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default=FrameworkStatus.draft)
    total_points: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB)
    derived_from_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("framework.id"))
    previous_version_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("framework.id"))
    # Set at publish: the frozen content and the hash that proves it never changed.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    content_hash: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


class Indicator(Base):
    __tablename__ = "indicator"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    framework_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("framework.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    weight: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    category: Mapped[str | None] = mapped_column(Text)
    nature_tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    kind: Mapped[str] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    scoring: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    evaluation_subjects: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    data_source: Mapped[str | None] = mapped_column(Text)
    formula: Mapped[str | None] = mapped_column(Text)
    responsible_unit: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
