"""`govperf dead-letters` run for real against a migrated schema (indicator's)."""

import subprocess
import sys
import uuid

from sqlalchemy import delete, insert, select

from services.indicator_svc.db import TABLES
from shared.db import create_engine
from tests.test_cli import REPO, dev_env


def govperf(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "dead-letters", *args],
        cwd=REPO,
        env=dev_env(GOVPERF_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_list_replay_and_discard_from_the_command_line(migrated):
    consumer = f"indicator-cli-{uuid.uuid4().hex[:6]}"
    engine = create_engine(migrated.database_url, pool_size=1)
    async with engine.begin() as conn:
        row_id = await conn.scalar(
            insert(TABLES.dead_letter)
            .values(consumer=consumer, subject="govperf.a.b.c", payload=b"\x00raw", error="boom", deliveries=5)
            .returning(TABLES.dead_letter.c.id)
        )
    try:
        listed = govperf("list", "indicator", database_url=migrated.database_url)
        assert listed.returncode == 0, listed.stderr
        line = next(line for line in listed.stdout.splitlines() if consumer in line)
        assert line.startswith(f"{row_id}\topen\t") and "bytes=4" in line and "boom" in line
        replayed = govperf("replay", "indicator", str(row_id), database_url=migrated.database_url)
        assert replayed.returncode == 0 and "replay requested" in replayed.stdout
        refused = govperf("discard", "indicator", str(row_id), "999999999", database_url=migrated.database_url)
        assert refused.returncode == 1
        assert "not open" in refused.stderr and "No consumer dead letter 999999999" in refused.stderr
        async with engine.connect() as conn:
            status = await conn.scalar(select(TABLES.dead_letter.c.status).where(TABLES.dead_letter.c.id == row_id))
        assert status == "replay_requested"
        assert govperf("list", "nosuch", database_url=migrated.database_url).returncode == 2
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(TABLES.dead_letter).where(TABLES.dead_letter.c.id == row_id))
        await engine.dispose()
