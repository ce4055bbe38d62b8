"""The indicator schema's declarative base and its infrastructure tables."""

from __future__ import annotations

from shared.db import make_base
from shared.messaging.tables import messaging_tables

SCHEMA = "indicator"
Base = make_base(SCHEMA)
TABLES = messaging_tables(Base.metadata)
