"""The identity schema's declarative base and its infrastructure tables."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from shared.db import make_metadata
from shared.messaging.tables import messaging_tables

SCHEMA = "identity"


class Base(DeclarativeBase):
    metadata = make_metadata(SCHEMA)


TABLES = messaging_tables(Base.metadata)


def read_session(app: FastAPI) -> AbstractAsyncContextManager[AsyncSession]:
    """A short read-only session outside any request's transaction (signing keys, security stamps).
    Tests point ``app.state.read_session`` at their rolled-back session so they see its rows."""
    factory: Any = getattr(app.state, "read_session", None) or app.state.sessionmaker
    session: AbstractAsyncContextManager[AsyncSession] = factory()
    return session
