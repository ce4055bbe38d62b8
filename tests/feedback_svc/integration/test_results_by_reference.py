"""Results published by reference, on real PostgreSQL, NATS and HTTP: a plan too big for one event
names the appraisal path of its objects and their hash; feedback_svc pages through that path and
opens cases exactly as for inline objects, and refuses objects that do not match the event.

A real HTTP server stands in for appraisal_svc's route (``/public/plans/{id}/versions/{v}/objects``),
serving pages of the contract's shape, so that tampered pages and outages can be staged."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from contracts.appraisal_results import ObjectResult, ResultsPublished, objects_digest
from services.feedback_svc.app import create_app
from shared.testing.plugin import client_for, started, wait_for
from tests.feedback_svc.conftest import feedback_settings
from tests.feedback_svc.integration.test_results_intake import TRUNCATE, _count, cases_of, publish
from tests.feedback_svc.support import CITY, county, leaf, results


class StandIn:
    """Pages of objects by path, as appraisal's public route pages them (object_id order)."""

    def __init__(self) -> None:
        self.objects: dict[str, list[ObjectResult]] = {}
        self.requests: list[str] = []
        # What the next requests meet before the real answer: "503", or "drop" (the connection
        # closed without a reply, as when appraisal_svc dies mid-request).
        self.outages: list[str] = []
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                stand_in.requests.append(parts.path)
                if stand_in.outages:
                    if stand_in.outages.pop(0) == "drop":
                        self.close_connection = True
                        return
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                found = stand_in.objects.get(parts.path)
                if found is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                query = parse_qs(parts.query)
                start, limit = int(query.get("cursor", ["0"])[0]), int(query["limit"][0])
                ordered = sorted(found, key=lambda o: o.object_id.bytes)
                page = ordered[start : start + limit]
                more = start + limit < len(ordered)
                body = json.dumps(
                    {
                        "items": [o.model_dump(mode="json") for o in page],
                        "next_cursor": str(start + limit) if more else None,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    serving = StandIn()
    threading.Thread(target=serving.server.serve_forever, daemon=True).start()
    yield serving
    serving.server.shutdown()
    serving.server.server_close()


@pytest.fixture
async def live_app(migrated, dev_keys, stand_in) -> AsyncIterator:
    # One delivery: a refused event goes to the dead letters at once instead of after retries.
    settings = feedback_settings(migrated, dev_keys, appraisal_url=stand_in.url, consumer_max_deliver=1)
    app = create_app(settings)
    async for running in started(app):
        yield running
        async with running.state.engine.begin() as conn:
            await conn.execute(text(TRUNCATE))


@pytest.fixture
async def js(migrated) -> AsyncIterator:
    import nats

    nc = await nats.connect(migrated.nats_url)
    yield nc.jetstream()
    await nc.close()


def big_plan(count: int) -> list[ObjectResult]:
    """``count`` counties; every tenth falls short on GDP growth (3 of a target of 6)."""
    return [
        county(
            f"County {i}",
            segment=f"c{i}",
            leaves=[leaf("ECO-01", 3.0 if i % 10 == 0 else 6.0, 6.0, name="GDP growth")],
            peers=count,
            rank=1,
        )
        for i in range(count)
    ]


def by_reference(
    objects: list[ObjectResult], stand_in: StandIn, *, served: list[ObjectResult] | None = None
) -> ResultsPublished:
    inline = results(objects[:1])
    ref = f"/public/plans/{inline.plan_id}/versions/1/objects"
    stand_in.objects[ref] = objects if served is None else served
    return inline.model_copy(
        update={
            "objects": [],
            "object_count": len(objects),
            "objects_ref": ref,
            "objects_hash": objects_digest(objects),
        }
    )


async def test_a_plan_published_by_reference_opens_cases_like_an_inline_one(live_app, js, auth, stand_in):
    objects = big_plan(2_500)  # above the 2,000 an event may carry inline
    payload = by_reference(objects, stand_in)
    ResultsPublished.model_validate(payload.model_dump())  # a valid event of the contract
    office = auth("perf_office", org_path=CITY)
    async with client_for(live_app) as http:
        await publish(js, payload)
        await wait_for(lambda: _count(live_app, "object_result", at_least=2_500), timeout=60)
        cases = await cases_of(http, office, payload.plan_id)
        page = await http.get("/api/v1/cases", params={"plan_id": str(payload.plan_id), "limit": 500}, headers=office)
    everyone = page.json()["items"]
    assert len(everyone) == 250 and len(cases) == 50  # every tenth county; the default page holds 50
    assert {c["object_name"] for c in everyone} == {f"County {i}" for i in range(0, 2_500, 10)}
    short = next(c for c in everyone if c["object_name"] == "County 10")
    assert short["reasons"] == ["low_attainment:ECO-01"]
    assert "GDP growth" in short["recommendations"][0]["text"]
    # Paged as the route pages them: 500 at a time, five pages.
    assert len(stand_in.requests) == 5


async def test_objects_that_do_not_match_the_hash_open_nothing(live_app, js, stand_in):
    objects = big_plan(30)
    tampered = list(objects)
    tampered[3] = tampered[3].model_copy(update={"composite": Decimal(99)})
    payload = by_reference(objects, stand_in, served=tampered)
    await publish(js, payload)
    await wait_for(lambda: _count(live_app, "dead_letter", at_least=1), timeout=30)
    assert await _count(live_app, "object_result") == 0
    assert await _count(live_app, "improvement_case") == 0
    async with live_app.state.engine.connect() as conn:
        error = await conn.scalar(text("SELECT error FROM feedback.dead_letter"))
    assert "objects_hash" in str(error)


async def test_a_reference_off_appraisal_is_never_fetched(live_app, js, stand_in):
    objects = big_plan(3)
    payload = by_reference(objects, stand_in)
    for hostile in ("//attacker.example/objects", "/public/plans/../../admin", "/public/x?y=1"):
        await publish(js, payload.model_copy(update={"objects_ref": hostile, "plan_id": uuid.uuid4()}))
    await wait_for(lambda: _count(live_app, "dead_letter", at_least=3), timeout=30)
    assert stand_in.requests == []
    assert await _count(live_app, "plan_result") == 0


async def test_an_appraisal_outage_is_waited_out_not_dead_lettered(live_app, js, stand_in):
    # The fixture dead-letters at the first counted failure; an outage must not count.
    objects = big_plan(20)
    payload = by_reference(objects, stand_in)
    stand_in.outages = ["503", "drop", "503"]
    await publish(js, payload)
    await wait_for(lambda: _count(live_app, "object_result", at_least=20), timeout=60)
    assert stand_in.outages == [] and len(stand_in.requests) == 4
    assert await _count(live_app, "dead_letter") == 0
    assert await _count(live_app, "improvement_case") == 2  # counties 0 and 10 fell short
