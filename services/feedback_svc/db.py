"""The feedback schema's declarative base and its infrastructure tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import make_metadata
from shared.messaging.tables import messaging_tables

SCHEMA = "feedback"


class Base(DeclarativeBase):
    metadata = make_metadata(SCHEMA)


TABLES = messaging_tables(Base.metadata)
