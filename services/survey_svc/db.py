"""The survey schema's declarative base and its infrastructure tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import make_metadata
from shared.hashchain import chain_heads_table
from shared.messaging.tables import messaging_tables

SCHEMA = "survey"


class Base(DeclarativeBase):
    metadata = make_metadata(SCHEMA)


TABLES = messaging_tables(Base.metadata)
# One chain of responses per campaign (keyed by the campaign id).
CHAIN_HEADS = chain_heads_table(Base.metadata)
