"""indicator.framework.published from the real indicator service, through its outbox, the relay
and NATS, into appraisal's framework versions: once, with the hash checked, after a NATS restart too."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from services.indicator_svc.app import create_app as create_indicator_app
from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework import codecs
from shared.testing.plugin import client_for, wait_for
from tests.appraisal_svc.conftest import appraisal_settings
from tests.appraisal_svc.integration.conftest import empty
from tests.indicator_svc.conftest import indicator_settings


@pytest.fixture
async def platform(migrated, dev_keys) -> AsyncIterator[tuple]:
    """The indicator service (relay on) and appraisal (consumers on), both really committing."""
    from services.appraisal_svc.app import create_app

    indicator = create_indicator_app(indicator_settings(migrated, dev_keys, run_relay=True))
    appraisal = create_app(
        appraisal_settings(migrated, dev_keys, run_relay=False, run_consumers=True, consumer_max_deliver=2)
    )
    async with indicator.router.lifespan_context(indicator), appraisal.router.lifespan_context(appraisal):
        await empty(appraisal.state.engine)
        try:
            yield indicator, appraisal
        finally:
            await empty(appraisal.state.engine)
            async with indicator.state.engine.begin() as conn:
                await conn.execute(
                    text(
                        "TRUNCATE indicator.framework, indicator.indicator, indicator.outbox, "
                        "indicator.idempotency_key CASCADE"
                    )
                )


async def publish(indicator, auth) -> tuple[str, str]:
    headers = auth("perf_office", org_path="/gd/sz")
    async with client_for(indicator) as http:
        created = await http.post(
            f"/api/v1/frameworks/import?format=json&org_path=/gd/sz&org_unit_id={uuid.uuid4()}",
            content=codecs.to_json(load_city_framework()),
            headers=headers,
        )
        assert created.status_code == 201, created.text
        published = await http.post(
            f"/api/v1/frameworks/{created.json()['id']}/publish",
            headers={**headers, "If-Match": created.headers["etag"]},
        )
        assert published.status_code == 200, published.text
    return published.json()["id"], published.json()["content_hash"]


async def stored(appraisal, framework_id: str) -> list:
    async with appraisal.state.engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT content_hash FROM appraisal.framework_version WHERE id = :id"), {"id": framework_id}
            )
        ).all()


async def test_a_published_framework_arrives_once_with_its_hash_checked(platform, auth):
    indicator, appraisal = platform
    framework_id, content_hash = await publish(indicator, auth)
    await wait_for(lambda: stored(appraisal, framework_id), timeout=20)
    assert [r.content_hash for r in await stored(appraisal, framework_id)] == [content_hash]
    # The same envelope delivered again (a relay that crashed before marking) changes nothing.
    async with indicator.state.engine.connect() as conn:
        envelope = (await conn.execute(text("SELECT envelope FROM indicator.outbox"))).scalar_one()
    await appraisal.state.js.publish("govperf.indicator.framework.published", json.dumps(envelope).encode())
    other = str(uuid.uuid4())
    forged = {**envelope, "id": str(uuid.uuid4()), "subject": other, "aggregateid": other, "sequence": 1}
    forged["data"] = {**envelope["data"], "framework_id": other, "content_hash": "f" * 64}
    await appraisal.state.js.publish("govperf.indicator.framework.published", json.dumps(forged).encode())

    async def forged_dead_lettered() -> bool:
        async with appraisal.state.engine.connect() as conn:
            return bool(
                await conn.scalar(
                    text("SELECT count(*) FROM appraisal.dead_letter WHERE event_id = :id"), {"id": forged["id"]}
                )
            )

    await wait_for(forged_dead_lettered, timeout=30)
    assert len(await stored(appraisal, framework_id)) == 1
    assert await stored(appraisal, forged["data"]["framework_id"]) == []


async def test_a_framework_published_while_nats_is_down_arrives_after_the_restart(platform, migrated, auth):
    if migrated.nats is None:
        pytest.skip("NATS is external; this test restarts the embedded server")
    indicator, appraisal = platform
    migrated.nats.stop()
    framework_id, _ = await publish(indicator, auth)  # committed with its outbox row; NATS is down
    await asyncio.sleep(0.5)
    migrated.nats.restart()
    await wait_for(lambda: stored(appraisal, framework_id), timeout=40)
    assert len(await stored(appraisal, framework_id)) == 1
