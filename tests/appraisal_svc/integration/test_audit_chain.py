"""The tamper-evident log on committed data: state changes append entries, concurrent writers
never fork the chain, raw-SQL tampering of each kind is detected by the API and the CLI, and the
head is anchored by event."""

import asyncio
import os

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from services.appraisal_svc.audit.service import anchor
from shared.cli import app as cli
from shared.db import committing
from shared.testing.plugin import client_for


async def build(client: httpx.AsyncClient, auth) -> dict:
    admin = auth("admin", org_path="/", subject="admin")
    r = await client.post(
        "/api/v1/org-units/import",
        headers=admin,
        json=[{"org_path": "/gd", "name": "GD", "kind": "province"}]
        + [{"org_path": f"/gd/c{i}", "name": f"City {i}", "kind": "city"} for i in range(8)],
    )
    assert r.status_code == 201, r.text
    return {u["org_path"]: u for u in r.json()["items"]}


async def entries(app) -> list:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text("SELECT seq, action, entity_id FROM appraisal.audit_log ORDER BY seq"))).all()


async def verification(client, auth, role="audit"):
    return await client.get("/api/v1/audit/verification", headers=auth(role, org_path="/"))


async def test_concurrent_writers_never_fork_the_chain_and_tampering_is_named(committed_app, auth):
    async with client_for(committed_app) as client:
        units = await build(client, auth)
        admin = auth("admin", org_path="/", subject="admin")
        # Eight objects and their data submitted at once: eight transactions appending concurrently.
        objects = []
        for i in range(8):
            r = await client.post(
                "/api/v1/objects", headers=admin, json={"kind": "government", "org_unit_id": units[f"/gd/c{i}"]["id"]}
            )
            objects.append(r.json()["id"])

        async def submit(i: int) -> int:
            r = await client.post(
                "/api/v1/data-points",
                headers=auth("department", org_path=f"/gd/c{i}", subject=f"clerk{i}"),
                json={"object_id": objects[i], "metric": "GDP", "period": "2026", "value": str(100 + i)},
            )
            return r.status_code

        assert await asyncio.gather(*(submit(i) for i in range(8))) == [201] * 8
        rows = await entries(committed_app)
        assert [r.seq for r in rows] == list(range(1, 9)) and {r.action for r in rows} == {"data_point.submitted"}
        ok = await verification(client, auth)
        assert ok.status_code == 200 and ok.json()["valid"] and ok.json()["entries"] == 8
        assert (await verification(client, auth, role="perf_office")).status_code == 403

        async with committed_app.state.engine.begin() as conn:
            with pytest.raises(Exception, match="append-only"):
                await conn.execute(text("UPDATE appraisal.audit_log SET actor = 'mallory' WHERE seq = 3"))
        async with committed_app.state.engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text("UPDATE appraisal.audit_log SET actor = 'mallory' WHERE seq = 3"))
        broken = (await verification(client, auth)).json()
        assert broken["valid"] is False and broken["first_broken_seq"] == 3 and broken["entries"] == 2

        env = {"GOVPERF_DATABASE_URL": committed_app.state.settings.database_url, "GOVPERF_ENV": "test"}
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["audit", "verify", "appraisal"], env={**os.environ, **env}
        )
        assert result.exit_code == 1 and "BROKEN at entry 3" in result.output


async def test_deleted_and_reordered_entries_are_detected(committed_app, auth):
    async with client_for(committed_app) as client:
        units = await build(client, auth)
        admin = auth("admin", org_path="/", subject="admin")
        for i in range(4):
            r = await client.post(
                "/api/v1/objects", headers=admin, json={"kind": "government", "org_unit_id": units[f"/gd/c{i}"]["id"]}
            )
            await client.post(
                "/api/v1/data-points",
                headers=auth("department", org_path=f"/gd/c{i}", subject=f"clerk{i}"),
                json={"object_id": r.json()["id"], "metric": "GDP", "period": "2026", "value": "1"},
            )
        async with committed_app.state.engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text("DELETE FROM appraisal.audit_log WHERE seq = 2"))
        assert (await verification(client, auth)).json()["first_broken_seq"] == 3
        async with committed_app.state.engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text("UPDATE appraisal.audit_log SET seq = 2 WHERE seq = 4"))
        assert (await verification(client, auth)).json()["first_broken_seq"] == 2


async def test_the_head_is_anchored_by_event_only_when_it_moved(committed_app, auth):
    async with client_for(committed_app) as client:
        await build(client, auth)
        admin = auth("admin", org_path="/", subject="admin")
        units = (await client.get("/api/v1/org-units", headers=admin, params={"under": "/gd/c0"})).json()["items"]
        r = await client.post(
            "/api/v1/objects", headers=admin, json={"kind": "government", "org_unit_id": units[0]["id"]}
        )
        await client.post(
            "/api/v1/data-points",
            headers=auth("department", org_path="/gd/c0", subject="clerk"),
            json={"object_id": r.json()["id"], "metric": "GDP", "period": "2026", "value": "1"},
        )
    sessionmaker = committed_app.state.sessionmaker
    for _ in range(2):
        async with sessionmaker() as session, committing(session):
            await anchor(session)
    async with committed_app.state.engine.connect() as conn:
        events = (
            await conn.execute(
                text("SELECT envelope FROM appraisal.outbox WHERE envelope->>'type' = 'appraisal.audit.anchored'")
            )
        ).all()
        head = (await conn.execute(text("SELECT seq, hash FROM appraisal.audit_log ORDER BY seq DESC LIMIT 1"))).one()
    assert len(events) == 1
    assert events[0].envelope["data"]["head_seq"] == head.seq and events[0].envelope["data"]["head_hash"] == head.hash
