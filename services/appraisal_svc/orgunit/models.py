"""The org tree (materialized paths) and the appraisal objects attached to its units."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class UnitKind(StrEnum):
    province = "province"
    city = "city"
    county = "county"
    township = "township"
    department = "department"


class ObjectKind(StrEnum):
    government = "government"
    department = "department"
    official = "official"
    project = "project"
    policy = "policy"


class OrgUnit(Base):
    __tablename__ = "org_unit"
    __table_args__ = (
        UniqueConstraint("org_path"),
        CheckConstraint("kind IN ('province', 'city', 'county', 'township', 'department')", name="kind"),
        Index("ix_org_unit_org_path_prefix", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("org_unit.id"), index=True)
    org_path: Mapped[str] = mapped_column(Text)
    peer_group: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


class AppraisalObject(Base):
    """Anything appraised. A government or department object shares its unit's id, so every
    object, whatever its kind, lives in one id space."""

    __tablename__ = "appraisal_object"
    __table_args__ = (
        UniqueConstraint("org_unit_id", "kind", "code"),
        CheckConstraint("kind IN ('government', 'department', 'official', 'project', 'policy')", name="kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(Text)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("org_unit.id"), index=True)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    peer_group: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
