"""Each service's migrated schema is exactly what its metadata declares (service tables and the
shared messaging tables alike), so a migration that drifts from ``messaging_tables`` is caught."""

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from shared.stack import SERVICES


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
async def test_migrated_schema_matches_the_metadata(migrated, spec) -> None:
    importlib.import_module(spec.module)  # every model of the service registers its tables
    metadata = importlib.import_module(spec.module.rsplit(".", 1)[0] + ".db").Base.metadata

    def diff(connection):
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "compare_type": True,
                "include_name": lambda name, type_, _parent: type_ != "schema" or name == spec.schema,
                "version_table_schema": spec.schema,
            },
        )
        return compare_metadata(context, metadata)

    engine = create_async_engine(migrated.database_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []
