"""Signing keys kept server-side; the private half is encrypted at rest with the key passphrase."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.gateway.db import Base
from shared.db import created_at_column


class SigningKey(Base):
    """Lifecycle by time: published from creation, signs from ``activates_at`` until a newer key
    activates, stays published until ``publish_until`` (the last token it signed has expired)."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(Text, primary_key=True)
    algorithm: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    encrypted_private_pem: Mapped[str] = mapped_column(Text)
    activates_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    retires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    publish_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
