"""survey: response intake and index computation.

Intake: survey_svc and the gateway as real uvicorn processes on the embedded stack; 64 clients
submit valid responses (one fresh token each) to ``POST /public/surveys/responses`` through the
gateway, in the same run as the same clients posting to a bare uvicorn hello-world (the ceiling
of one Python process on this machine). Indices: the whole analysis (quality flags, weights,
indices and intervals per object x dimension x group) over 1,000,000 synthetic responses."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import secrets
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from services.survey_svc.analysis import logic
from services.survey_svc.questionnaire import xlsform
from services.survey_svc.questionnaire.content import QuestionnaireContent
from shared.auth.devkeys import ensure_dev_keys, mint_dev_token
from shared.embedded import find_free_port
from shared.migrations import upgrade
from shared.stack import ServiceSpec, get_service
from shared.testing.processes import ServiceProcess, start_service

ORG_UNIT = "00000000-0000-7000-8000-000000000001"
OBJECT = "00000000-0000-7000-8000-0000000000a1"
QUESTIONS = [f"q{i}" for i in range(1, 11)]
CONTENT = {
    "title": "Bench survey",
    "questions": [
        {"name": q, "type": "likert", "label": q, "required": True, "dimension": f"d{i % 4}", "grid": "grid"}
        for i, q in enumerate(QUESTIONS)
    ],
}
HELLO = ServiceSpec("hello", "bench.hello", 0, "none")


def answers(rng: np.random.Generator) -> dict[str, int]:
    return {q: int(v) for q, v in zip(QUESTIONS, rng.integers(1, 6, len(QUESTIONS)), strict=True)}


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


async def post_all(url: str, bodies: list[dict[str, Any]], concurrency: int) -> Run:
    """Every body posted once by ``concurrency`` clients; failures are counted, never retried
    (a retry would spend the token twice), and left out of the latencies."""
    run = Run()
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            for body in queue:
                started = time.perf_counter()
                try:
                    response = await client.post(url, json=body)
                except httpx.HTTPError as exc:
                    run.failures[type(exc).__name__] += 1
                    continue
                if response.status_code not in (200, 201):
                    run.failures[str(response.status_code)] += 1
                    continue
                run.latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.seconds = time.perf_counter() - began
        return run


def figures(run: Run) -> tuple[float, float, float]:
    ordered = sorted(run.latencies) or [float("nan")]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return len(run.latencies) / run.seconds, statistics.median(ordered) * 1000, p99 * 1000


def prepare_campaign(survey_url: str, headers: dict[str, str], tokens: int) -> list[str]:
    with httpx.Client(base_url=survey_url, headers=headers, timeout=120) as client:
        content = xlsform.to_xlsx(QuestionnaireContent.model_validate(CONTENT))
        code = f"bench-{secrets.token_hex(4)}"
        q = client.post(
            "/api/v1/questionnaires/import",
            params={"code": code, "org_unit_id": ORG_UNIT, "org_path": "/gd/sz"},
            content=content,
        ).raise_for_status()
        client.post(
            f"/api/v1/questionnaires/{q.json()['id']}/publish", headers={"If-Match": q.headers["ETag"]}
        ).raise_for_status()
        today = dt.date.today()
        campaign = client.post(
            "/api/v1/campaigns",
            json={
                "code": code,
                "name": "Bench",
                "questionnaire_id": q.json()["id"],
                "org_unit_id": ORG_UNIT,
                "org_path": "/gd/sz",
                "objects": [{"id": OBJECT, "name": "Object"}],
                "cells": [{"respondent_group": "urban_residents", "region": "r1", "population_share": 1}],
                "fieldwork_start": today.isoformat(),
                "fieldwork_end": (today + dt.timedelta(days=1)).isoformat(),
            },
        ).raise_for_status()
        cid = campaign.json()["id"]
        for to in ("approved", "fieldwork"):
            etag = client.get(f"/api/v1/campaigns/{cid}").headers["ETag"]
            client.post(
                f"/api/v1/campaigns/{cid}/transitions", json={"to": to}, headers={"If-Match": etag}
            ).raise_for_status()
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        issued: list[str] = []
        while len(issued) < tokens:
            batch = client.post(
                f"/api/v1/campaigns/{cid}/token-batches",
                json={
                    "respondent_group": "urban_residents",
                    "region": "r1",
                    "object_id": OBJECT,
                    "count": min(20_000, tokens - len(issued)),
                    "expires_at": expires,
                },
            ).raise_for_status()
            issued += [row["token"] for row in csv.DictReader(io.StringIO(batch.text))]
        return issued


def intake(database_url: str, nats_url: str, data_dir: Path, *, responses: int, concurrency: int) -> dict[str, Any]:
    survey_spec, gateway_spec = get_service("survey"), get_service("gateway")
    for spec in (survey_spec, gateway_spec):
        upgrade(spec, database_url)
    keys = ensure_dev_keys(data_dir / "keys")
    gateway_port, survey_port, hello_port = find_free_port(), find_free_port(), find_free_port()
    common = {
        "GOVPERF_ENV": "development",
        "GOVPERF_DATABASE_URL": database_url,
        "GOVPERF_NATS_URL": nats_url,
        "GOVPERF_LOG_LEVEL": "WARNING",
    }
    processes: list[ServiceProcess] = []
    try:
        gateway = start_service(
            gateway_spec,
            gateway_port,
            {
                **common,
                "GOVPERF_JWKS_FILE": str(keys.jwks_path),
                "GOVPERF_UPSTREAMS": json.dumps({"survey": f"http://127.0.0.1:{survey_port}"}),
                "GOVPERF_ADMIN_PASSWORD": secrets.token_urlsafe(16),
                "GOVPERF_UPSTREAM_MAX_CONNECTIONS": str(concurrency * 2),
                # Every request comes from one address: lift its limit so the bench measures the path.
                "GOVPERF_RATE_LIMIT_PER_MINUTE": "100000000",
                "GOVPERF_RATE_LIMIT_BURST": "1000000",
            },
            log_dir=data_dir,
        )
        processes.append(gateway)
        survey = start_service(
            survey_spec,
            survey_port,
            {**common, "GOVPERF_JWKS_FILE": str(keys.jwks_path), "GOVPERF_DB_POOL_SIZE": str(concurrency // 2)},
            log_dir=data_dir,
            # Longer than the gateway pool's keep-alive expiry (httpx: 5 s, uvicorn's default too):
            # otherwise the service may close a pooled connection as the gateway sends on it (a 502).
            extra_args=("--timeout-keep-alive", "30"),
        )
        processes.append(survey)
        hello = start_service(HELLO, hello_port, {}, log_dir=data_dir)
        processes.append(hello)
        for process in processes:
            process.wait_ready()
        token = mint_dev_token(keys, subject="bench", roles=["perf_office"], org_unit_id=ORG_UNIT, org_path="/gd/sz")
        tokens = prepare_campaign(survey.url, {"Authorization": f"Bearer {token}"}, responses + 500)
        rng = np.random.default_rng(1)
        bodies = [{"token": t, "answers": answers(rng), "duration_seconds": 200} for t in tokens]
        url = f"{gateway.url}/public/surveys/responses"
        asyncio.run(post_all(url, bodies[:500], concurrency))  # warm connections, caches, JIT paths
        through = asyncio.run(post_all(url, bodies[500:], concurrency))
        bare = asyncio.run(post_all(hello.url, bodies[500:], concurrency))
    finally:
        for process in reversed(processes):
            process.stop()
    intake_rps, intake_p50, intake_p99 = figures(through)
    bare_rps, bare_p50, bare_p99 = figures(bare)
    return {
        "concurrency": concurrency,
        "responses": responses,
        "intake_rps": intake_rps,
        "intake_p50_ms": intake_p50,
        "intake_p99_ms": intake_p99,
        "bare_rps": bare_rps,
        "bare_p50_ms": bare_p50,
        "bare_p99_ms": bare_p99,
        "intake_failures": dict(through.failures),
        "bare_failures": dict(bare.failures),
    }


def indices(responses: int = 1_000_000) -> dict[str, float]:
    """analyse() over synthetic arrays: 20 objects, 4 groups x 5 regions, 10 Likert questions."""
    rng = np.random.default_rng(2)
    n_cells, n_objects = 20, 20
    sample = logic.Sample(
        cell=rng.integers(0, n_cells, responses),
        obj=rng.integers(0, n_objects, responses),
        scores=((rng.integers(1, 6, (responses, len(QUESTIONS))) - 1) * 25.0).astype(np.float64),
        durations=rng.normal(300, 60, responses),
        device=rng.integers(0, responses * 4, responses),
        over_quota=np.zeros(responses, dtype=bool),
    )
    design = logic.Design(
        cell_group=np.arange(n_cells, dtype=np.int64) // 5,
        cell_region=np.arange(n_cells, dtype=np.int64) % 5,
        cell_share=rng.uniform(0.5, 2.0, n_cells),
        n_objects=n_objects,
        n_groups=4,
        dimensions=[f"d{i}" for i in range(4)],
        dimension_columns=[[c for c in range(len(QUESTIONS)) if c % 4 == d] for d in range(4)],
        grids=[list(range(len(QUESTIONS)))],
        min_cell_size=30,
    )
    started = time.perf_counter()
    result = logic.analyse(sample, design)
    return {"indices_s": time.perf_counter() - started, "indices_responses": responses, "cells": len(result.cells)}
