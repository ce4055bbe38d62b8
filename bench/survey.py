"""survey: response intake and index computation.

Intake: survey_svc and the gateway as real uvicorn processes on the embedded stack; 64 clients
submit valid responses (one fresh token each) to ``POST /public/surveys/responses`` through the
gateway, in the same run as the same clients posting to a bare uvicorn hello-world (the ceiling
of one Python process on this machine). The load generator is ``wrk`` (-t2 -c64, a Lua script
posting each pre-issued token once) when installed: a Python client saturates before the
server does. Without wrk an httpx client is used, and ``load_generator`` says which.

Indices: the whole analysis (quality flags, weights, indices and intervals per object x dimension
x group) over 1,000,000 synthetic responses."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import secrets
import shutil
import signal
import statistics
import subprocess
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
    # Set when wrk drove the run (it reports the answered count and percentiles, not every latency).
    wrk_ok: int | None = None
    wrk_p50_ms: float = 0.0
    wrk_p99_ms: float = 0.0


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


# Thread i of n posts body lines i, i+n, ... once each. Once its bodies are spent a connection may
# still ask for a request: it gets a GET on the POST route (405), which is not counted. ``cycle``
# reuses the bodies (the hello ignores them). wrk runs until -d even when its threads stop, so
# each thread times itself (CLOCK_MONOTONIC through LuaJIT's ffi) and leaves a marker file when
# all its answers are in; the caller then interrupts wrk, which prints the summary.
WRK_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
           int clock_gettime(int clk_id, bench_timespec *tp); ]]
local function now()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, t)
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) / 1e9
end
local threads, started = {}, 0
function setup(thread)
  thread:set("index", started)
  started = started + 1
  table.insert(threads, thread)
end
function init(args)
  cycle = args[2] == "cycle"
  local n = tonumber(args[3])
  marker = args[4] .. "." .. index
  bodies, position, ok, failed, first, last = {}, 1, 0, 0, 0, 0
  local line_no = 0
  for line in io.lines(args[1]) do
    if line_no % n == index then bodies[#bodies + 1] = line end
    line_no = line_no + 1
  end
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  if first == 0 then first = now() end
  if position > #bodies then
    if not cycle then return wrk.format("GET") end
    position = 1
  end
  position = position + 1
  return wrk.format("POST", nil, nil, bodies[position - 1])
end
function response(status, headers, body)
  if status == 405 and not cycle then return end
  if status >= 200 and status < 300 then ok = ok + 1 else failed = failed + 1 end
  if ok + failed == #bodies then
    last = now()
    io.open(marker, "w"):close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local ok_all, failed_all, first_all, last_all = 0, 0, math.huge, 0
  for _, t in ipairs(threads) do
    ok_all = ok_all + t:get("ok")
    failed_all = failed_all + t:get("failed")
    first_all = math.min(first_all, t:get("first"))
    last_all = math.max(last_all, t:get("last"))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"ok": %d, "failed": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, "socket_errors": %d}\\n',
    ok_all, failed_all, last_all - first_all, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout))
end
"""
WRK_THREADS = 2


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "httpx (wrk not installed)"


def wrk_post_all(url: str, bodies: list[dict[str, Any]], concurrency: int, work_dir: Path, *, cycle: bool) -> Run:
    """As ``post_all`` through wrk; the latencies are wrk's (p50/p99), failures are non-2xx answers
    and socket errors."""
    script, bodies_file = work_dir / "survey_intake.lua", work_dir / f"bodies-{secrets.token_hex(4)}.jsonl"
    script.write_text(WRK_SCRIPT)
    bodies_file.write_text("".join(json.dumps(body, separators=(",", ":")) + "\n" for body in bodies))
    marker = work_dir / f"wrk-done-{secrets.token_hex(4)}"
    args = ["wrk", f"-t{WRK_THREADS}", f"-c{concurrency}", "-d600s", "--timeout", "10s", "-s", str(script), url]
    args += ["--", str(bodies_file), "cycle" if cycle else "once", str(WRK_THREADS), str(marker)]
    markers = [Path(f"{marker}.{i}") for i in range(WRK_THREADS)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as process:
        # A lost answer (socket error) leaves a thread short: wrk then ends at -d like any run.
        while process.poll() is None and not all(m.exists() for m in markers):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate()
    for m in markers:
        m.unlink(missing_ok=True)
    bodies_file.unlink()
    line = next((row for row in out.splitlines() if row.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures:\n{out}")
    result = json.loads(line.removeprefix("WRK_RESULT "))
    run = Run(seconds=result["seconds"], wrk_ok=result["ok"], wrk_p50_ms=result["p50_ms"], wrk_p99_ms=result["p99_ms"])
    if result["failed"]:
        run.failures["non-2xx"] = result["failed"]
    if result["socket_errors"]:
        run.failures["socket"] = result["socket_errors"]
    return run


def figures(run: Run) -> tuple[float, float, float]:
    if run.wrk_ok is not None:
        return run.wrk_ok / run.seconds, run.wrk_p50_ms, run.wrk_p99_ms
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
        if shutil.which("wrk"):
            wrk_post_all(url, bodies[:500], concurrency, data_dir, cycle=False)  # warm connections, caches
            through = wrk_post_all(url, bodies[500:], concurrency, data_dir, cycle=False)
            bare = wrk_post_all(hello.url, bodies[500:], concurrency, data_dir, cycle=True)
        else:
            asyncio.run(post_all(url, bodies[:500], concurrency))  # warm connections, caches
            through = asyncio.run(post_all(url, bodies[500:], concurrency))
            bare = asyncio.run(post_all(hello.url, bodies[500:], concurrency))
    finally:
        for process in reversed(processes):
            process.stop()
    intake_rps, intake_p50, intake_p99 = figures(through)
    bare_rps, bare_p50, bare_p99 = figures(bare)
    return {
        "concurrency": concurrency,
        "load_generator": load_generator(),
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
