"""The use-of-results register: decisions that rest on a published result."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, Index, Integer, Numeric, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.feedback_svc.db import Base
from shared.db import created_at_column
from shared.ids import new_id

DECISION_KINDS = (
    "commendation",
    "performance_bonus",
    "admonishment_talk",
    "accountability",
    "promotion_input",
    "training",
    "rotation",
)


class Decision(Base):
    __tablename__ = "decision"
    __table_args__ = (
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in DECISION_KINDS) + ")", name="kind"),
        Index("ix_decision_plan_object", "plan_id", "object_id"),
        Index("ix_decision_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    result_version: Mapped[int] = mapped_column(Integer)
    cycle_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    object_kind: Mapped[str] = mapped_column(Text)
    object_name: Mapped[str] = mapped_column(Text)
    org_path: Mapped[str] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(Text)  # the grade of the result the decision cites
    kind: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    decided_on: Mapped[dt.date] = mapped_column(Date)
    decided_by: Mapped[str] = mapped_column(Text)
    decided_as: Mapped[str] = mapped_column(Text)  # the role under which it was recorded
    case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[dt.datetime] = created_at_column()
