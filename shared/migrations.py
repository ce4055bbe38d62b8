"""Alembic helpers: every service keeps its migrations and its version table in its own schema."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from shared.stack import ServiceSpec


def migrations_dir(module: str) -> Path:
    """``services.indicator_svc.app`` -> ``services/indicator_svc/migrations``."""
    package = module.rsplit(".", 1)[0]
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"no package {package}"
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def alembic_config(module: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir(module)))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(service: ServiceSpec, database_url: str, revision: str = "heads") -> None:
    """Every head: branches being built side by side each add a migration off the same parent.
    Synchronous (alembic's env runs its own event loop): call it from a thread inside async code."""
    command.upgrade(alembic_config(service.module, database_url), revision)


def run_env(metadata: MetaData, schema: str) -> None:
    """Body of every service's ``migrations/env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"

    def do_run(connection: Connection) -> None:
        # In production the schema exists, owned by the service's role, which may not create
        # schemas in the database: create it only when missing (the embedded superuser case).
        exists = connection.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema})
        if not exists:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            compare_type=True,
            include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())
