"""Questionnaire versions. A published version is frozen (service rules and a database trigger)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.survey_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class QuestionnaireStatus(StrEnum):
    draft = "draft"
    published = "published"


class Questionnaire(Base):
    __tablename__ = "questionnaire"
    __table_args__ = (
        UniqueConstraint("lineage_id", "version"),
        UniqueConstraint("org_path", "code", "version"),
        CheckConstraint("status IN ('draft', 'published')", name="status"),
        Index(
            "uq_questionnaire_one_draft_per_lineage",
            "lineage_id",
            unique=True,
            postgresql_where=text("status = 'draft'"),
        ),
        Index("ix_questionnaire_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    lineage_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default=QuestionnaireStatus.draft)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content_hash: Mapped[str | None] = mapped_column(Text)
    previous_version_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
