"""Campaigns, their respondent tokens (keyed hashes only) and investigators' quotas."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.survey_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class CampaignStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    fieldwork = "fieldwork"
    closed = "closed"
    analysed = "analysed"
    published = "published"


class Campaign(Base):
    __tablename__ = "campaign"
    __table_args__ = (
        UniqueConstraint("org_path", "code"),
        CheckConstraint(
            "status IN ('draft', 'approved', 'fieldwork', 'closed', 'analysed', 'published')", name="status"
        ),
        CheckConstraint("fieldwork_start <= fieldwork_end", name="window"),
        Index("ix_campaign_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    questionnaire_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("questionnaire.id"))
    questionnaire_version: Mapped[int] = mapped_column(Integer)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    objects: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    cells: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    fieldwork_start: Mapped[dt.date] = mapped_column(Date)
    fieldwork_end: Mapped[dt.date] = mapped_column(Date)
    min_cell_size: Mapped[int] = mapped_column(Integer)
    max_weight_ratio: Mapped[float] = mapped_column(default=5.0)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    cycle_label: Mapped[str | None] = mapped_column(Text)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(Text, default=CampaignStatus.draft)
    analysis_version: Mapped[int] = mapped_column(Integer, default=0)
    published_analysis_version: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


class TokenBatch(Base):
    __tablename__ = "token_batch"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaign.id"), index=True)
    respondent_group: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(Text)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()


class RespondentToken(Base):
    """Only the keyed hash of a token is stored: the database alone cannot produce a usable one.
    In anonymous campaigns the moment of spending is not recorded (it would match a response)."""

    __tablename__ = "respondent_token"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaign.id"), index=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("token_batch.id"))
    respondent_group: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(Text)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    spent: Mapped[bool] = mapped_column(Boolean, default=False)
    spent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class InvestigatorQuota(Base):
    """How many interviews an investigator may submit in one cell; ``used`` counts every submission,
    so ``used - quota`` is the overflow (stored and marked, never counted)."""

    __tablename__ = "investigator_quota"
    __table_args__ = (CheckConstraint("quota >= 0 AND used >= 0", name="counts"),)

    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaign.id"), primary_key=True)
    investigator: Mapped[str] = mapped_column(Text, primary_key=True)
    respondent_group: Mapped[str] = mapped_column(Text, primary_key=True)
    region: Mapped[str] = mapped_column(Text, primary_key=True)
    quota: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
