"""Reads that need no unit of work: a Core SELECT compiled once, run as a prepared statement on a
pooled asyncpg connection, rows straight into pydantic.

The ORM path costs six round trips and ~1 ms of CPU for one row (pre-ping, BEGIN, SELECT, COMMIT,
identity map, attribute instrumentation). A read that changes nothing and needs no lock does not
need any of it: one statement in autocommit sees one consistent snapshot. Authorization stays the
caller's job, exactly as on the ORM path (role and org scope checked against the row read).

Use it from a route with ``reader: DBReader`` and module-level ``ReadStatement``s; writes and reads
that must see the request's own changes keep using ``DBSession``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import Depends, Request
from sqlalchemy import Select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
# A connection the server dropped (restart, idle timeout, failover) fails on first use; the read
# is retried once on a fresh one instead of pinging before every checkout.
# A drop can also surface as InternalClientError while asyncpg is still reading the server's
# termination notice ("another operation is in progress").
_DROPPED = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)

Connections = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


class ReadStatement:
    """A Core SELECT compiled once to PostgreSQL text with ``$n`` placeholders. Values are given by
    ``bindparam`` name at execution; literals written into the statement keep their values."""

    def __init__(self, stmt: Select[Any]) -> None:
        compiled = stmt.compile(dialect=_DIALECT)
        self.sql = compiled.string
        self._order: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._literals: dict[str, Any] = dict(compiled.params)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        missing = [n for n in self._order if n not in params and self._literals.get(n) is None]
        if missing:
            raise KeyError(f"missing parameters {missing} for {self.sql!r}")
        return [params[n] if n in params else self._literals[n] for n in self._order]


class Reader:
    """Runs ReadStatements on connections from ``connections`` (a pool, or a test's transaction)."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def all(self, statement: ReadStatement, **params: Any) -> list[asyncpg.Record]:
        args = statement.args(params)
        async with self._connections() as conn:
            try:
                rows: list[asyncpg.Record] = await conn.fetch(statement.sql, *args)
                return rows
            except _DROPPED:
                # Never hand the broken connection back: the pool would give it out again.
                conn.terminate()
        async with self._connections() as conn:
            rows = await conn.fetch(statement.sql, *args)
            return rows

    async def one(self, statement: ReadStatement, **params: Any) -> asyncpg.Record | None:
        rows = await self.all(statement, **params)
        return rows[0] if rows else None


async def _json_codecs(conn: asyncpg.Connection) -> None:
    # The same decoding as the ORM engine's connections: json and jsonb arrive as Python values.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _reset_if_needed(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset (unlock advisory locks, CLOSE ALL, UNLISTEN, RESET ALL) is a round trip
    # on every release. Read statements change no session state; only a connection left inside a
    # transaction (never by Reader) would need it.
    if conn.is_in_transaction():
        await conn.reset()


async def open_read_pool(engine: AsyncEngine, *, max_size: int) -> asyncpg.Pool:
    """An asyncpg pool to the engine's database with the engine's own connect arguments."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    kwargs = {k: v for k, v in kwargs.items() if k not in {"prepared_statement_cache_size", "async_fallback"}}
    pool: asyncpg.Pool = await asyncpg.create_pool(
        *args,
        **kwargs,
        min_size=0,
        max_size=max_size,
        init=_json_codecs,
        reset=_reset_if_needed,
        max_inactive_connection_lifetime=300,
    )
    return pool


def pool_reader(pool: asyncpg.Pool) -> Reader:
    @asynccontextmanager
    async def connections() -> AsyncIterator[asyncpg.Connection]:
        async with pool.acquire() as conn:
            yield conn

    return Reader(connections)


def session_reader(session: AsyncSession) -> Reader:
    """A reader on ``session``'s own connection and transaction (tests that roll everything back)."""

    @asynccontextmanager
    async def connections() -> AsyncIterator[asyncpg.Connection]:
        connection = await session.connection()
        # A statement through the session first, so its transaction (or savepoint) is open
        # before the raw connection runs anything.
        await connection.exec_driver_sql("SELECT 1")
        raw = await connection.get_raw_connection()
        yield raw.driver_connection

    return Reader(connections)


async def get_reader(request: Request) -> Reader:
    """The app's reader (tests replace this dependency with one inside their transaction).
    Async on purpose: FastAPI runs a sync dependency in its thread pool."""
    reader: Reader = request.app.state.reader
    return reader


DBReader = Annotated[Reader, Depends(get_reader)]
