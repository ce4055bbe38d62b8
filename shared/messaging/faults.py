"""Telling a broken connection from a broken handler: the first is waited out, the second counted."""

from __future__ import annotations

import asyncio
import socket

import asyncpg  # type: ignore[import-untyped]
from nats.errors import ConnectionClosedError, NoRespondersError, StaleConnectionError
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATE classes of failures that are not the statement's fault: connection exception (08),
# transaction rollback (40: serialization failure, deadlock), insufficient resources (53),
# operator intervention (57: admin shutdown, pg_terminate_backend), system error (58).
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    socket.gaierror,
    asyncpg.PostgresConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    DisconnectionError,
    PoolTimeoutError,
    ConnectionClosedError,
    NoRespondersError,
    StaleConnectionError,
    NatsTimeoutError,
)


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return state if isinstance(state, str) else None


def is_infrastructure_failure(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is the database or NATS being unreachable or
    interrupting us, as opposed to the code or the data being wrong."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _TRANSIENT_TYPES):
            return True
        # A bare OSError is how asyncio reports a refused connect to several addresses; its
        # subclasses (file not found, permission) are the code's own business.
        if type(current) is OSError:
            return True
        # asyncpg says "connection is closed" / "released back to the pool" with an InterfaceError.
        if isinstance(current, asyncpg.InterfaceError) and "connection" in str(current):
            return True
        state = _sqlstate(current)
        if state is not None and state[:2] in TRANSIENT_SQLSTATE_CLASSES:
            return True
        if isinstance(current, DBAPIError) and current.orig is not None and current.orig is not current:
            current = current.orig
            continue
        current = current.__cause__ or current.__context__
    return False
