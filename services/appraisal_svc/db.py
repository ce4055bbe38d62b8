"""The appraisal schema's declarative base, its infrastructure tables, its audit chain and jobs."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import make_metadata
from shared.hashchain import chain_table
from shared.jobs import job_table
from shared.messaging.tables import messaging_tables

SCHEMA = "appraisal"


class Base(DeclarativeBase):
    metadata = make_metadata(SCHEMA)


TABLES = messaging_tables(Base.metadata)
AUDIT_LOG = chain_table(Base.metadata, "audit_log")
JOBS = job_table(Base.metadata)
