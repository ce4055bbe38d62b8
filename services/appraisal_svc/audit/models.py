"""Anchors: the chain heads already published as appraisal.audit.anchored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import Base
from shared.db import created_at_column


class AuditAnchor(Base):
    __tablename__ = "audit_anchor"

    head_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(Text)
    anchored_at: Mapped[dt.datetime] = created_at_column()
