"""The survey schema's declarative base and its infrastructure tables."""

from __future__ import annotations

from sqlalchemy import Index
from sqlalchemy.orm import DeclarativeBase

from shared.db import make_metadata
from shared.hashchain import chain_table
from shared.jobs import job_table
from shared.messaging.tables import messaging_tables

SCHEMA = "survey"


class Base(DeclarativeBase):
    metadata = make_metadata(SCHEMA)


TABLES = messaging_tables(Base.metadata)
# The tamper-evident record of responses: one hash chain per campaign (chain_key = campaign id),
# to which a sealer appends one entry per recorded response (its id and content hash) in batches,
# so intake never waits on a chain's lock and a campaign's chain is verified on its own.
RESPONSE_CHAIN = chain_table(Base.metadata, "response_chain", keyed=True)
Index("ix_response_chain_entity_id", RESPONSE_CHAIN.c.entity_id)
# Before per-campaign chains: one chain for all campaigns. Kept as it was (append-only, still
# verifiable); its responses were sealed again into their campaigns' chains by migration 0003.
RESPONSE_LOG = chain_table(Base.metadata, "response_log")
Index("ix_response_log_entity_id", RESPONSE_LOG.c.entity_id)
# `govperf audit verify survey` recomputes every campaign's chain.
AUDIT_LOG = RESPONSE_CHAIN
# Long work (analysing a campaign) as job resources, claimed by any replica's worker.
JOBS = job_table(Base.metadata)
