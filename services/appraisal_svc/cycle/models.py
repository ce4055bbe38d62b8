"""Appraisal cycles: monthly, quarterly, annual and term, nested by parent."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, ForeignKey, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column
from shared.ids import new_id


class Cycle(Base):
    __tablename__ = "cycle"
    __table_args__ = (
        UniqueConstraint("org_path", "kind", "label"),
        CheckConstraint("kind IN ('monthly', 'quarterly', 'annual', 'term')", name="kind"),
        CheckConstraint("ends_on >= starts_on", name="dates"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)  # the data period it covers: 2026, 2026-Q3, 2026-07, 2023-2027
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("cycle.id"), index=True)
    org_path: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
