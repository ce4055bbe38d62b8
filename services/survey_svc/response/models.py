"""Responses: append-only (a trigger refuses UPDATE and DELETE); each one's content hash is sealed
into the hash-chained response log shortly after intake.

In anonymous campaigns nothing here leads back to a token: the id is random (not time-ordered),
only the day of receipt is kept and ``token_hash`` is empty."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, LargeBinary, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.survey_svc.db import Base


class Response(Base):
    __tablename__ = "response"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaign.id"), index=True)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    respondent_group: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(Text)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    device_hash: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)  # "token" or "interview"
    investigator: Mapped[str | None] = mapped_column(Text)
    over_quota: Mapped[bool] = mapped_column(Boolean, default=False)
    received_on: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    token_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    # sha256 of the canonical record: the respondent's receipt, and what the log seals.
    content_hash: Mapped[str] = mapped_column(Text)


class UnsealedResponse(Base):
    """The sealer's queue: a response recorded but not yet in the response log. Filled in the
    statement that records the response, emptied in the transaction that seals it, so the sealer
    reads only what is new (never an anti-join over every response) and a crash loses nothing."""

    __tablename__ = "response_unsealed"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    content_hash: Mapped[str] = mapped_column(Text)
