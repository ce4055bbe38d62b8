"""survey: response intake and index computation.

Intake: survey_svc and the gateway as real uvicorn processes on the embedded stack; 64 clients
submit valid responses (one fresh token each) to ``POST /public/surveys/responses`` through the
gateway, and in the same run the same clients post the same bodies to a bare uvicorn hello-world
(the ceiling of one Python process on this machine). ``baseline`` runs a second survey_svc and
gateway from another source tree (``git archive``) on the same database, measured in the same run.

The load generator is ``wrk`` (C, two threads) with a Lua script that posts each pre-issued token
once: a Python client saturates long before the services do. Without wrk an httpx client is used
and ``load_generator`` says so (its figures then measure the client).

Indices: the whole analysis (quality flags, weights, indices and intervals per object x dimension
x group) over 1,000,000 synthetic responses."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime as dt
import io
import json
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from prometheus_client.parser import text_string_to_metric_families

from services.survey_svc.analysis import logic
from services.survey_svc.questionnaire import xlsform
from services.survey_svc.questionnaire.content import QuestionnaireContent
from shared.auth.devkeys import DevKeys, ensure_dev_keys, mint_dev_token
from shared.embedded import find_free_port
from shared.migrations import upgrade
from shared.stack import ServiceSpec, get_service
from shared.testing.processes import REPO, ServiceProcess, start_service

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
    answered: int = 0  # 2xx answers
    seconds: float = 0.0  # first request sent to last answer received
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0


async def post_all(url: str, bodies: list[dict[str, Any]], concurrency: int) -> Run:
    """The fallback without wrk: every body posted once by ``concurrency`` httpx clients; failures
    are counted, never retried (a retry would spend the token twice), and left out of the latencies."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            for body in queue:
                started = time.perf_counter()
                try:
                    response = await client.post(url, json=body)
                except httpx.HTTPError as exc:
                    failures[type(exc).__name__] += 1
                    continue
                if response.status_code not in (200, 201):
                    failures[str(response.status_code)] += 1
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    ordered = sorted(latencies) or [float("nan")]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Run(len(latencies), seconds, statistics.median(ordered) * 1000, p99 * 1000, failures)


# Thread i of n posts body lines i, i+n, ... once each, until its bodies are answered or wrk's -d
# ends the run (answers still in flight then are not counted). Three wrk details shape it:
# - wrk calls request() once on thread 0's state before the run starts, to count pipelined
#   requests (script_verify_request): that call gets a throwaway request and spends no body.
# - A connection asks delay() before each request (once a script defines it): it reserves the
#   next body, or parks the connection for the rest of the run when none is left, so no filler
#   requests distort the figures. delay() and the request() after it are not atomic across
#   connections, hence the reservation.
# - Only after a reconnect (a socket error) may a connection ask for a request without delay(); if
#   nothing is left it sends a GET, answered 405 and not counted.
# A thread whose bodies are all answered leaves a marker file and stops; the caller interrupts wrk
# when every marker is there (wrk itself would wait for -d) and reads the WRK_RESULT line.
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
  local n = tonumber(args[2])
  marker = args[3] .. "." .. index
  probe = index == 0
  bodies, position, reserved, ok, failed, first, last = {}, 1, 0, 0, 0, 0, 0
  local line_no = 0
  for line in io.lines(args[1]) do
    if line_no % n == index then bodies[#bodies + 1] = line end
    line_no = line_no + 1
  end
  wrk.headers["Content-Type"] = "application/json"
end
function delay()
  if position + reserved > #bodies then return 86400000 end
  reserved = reserved + 1
  return 0
end
function request()
  if probe then
    probe = false
    return wrk.format("POST", nil, nil, "{}")
  end
  if first == 0 then first = now() end
  if reserved > 0 then reserved = reserved - 1 end
  if position > #bodies then return wrk.format("GET") end
  position = position + 1
  return wrk.format("POST", nil, nil, bodies[position - 1])
end
function response(status, headers, body)
  if status == 405 then return end
  last = now()
  if status >= 200 and status < 300 then ok = ok + 1 else failed = failed + 1 end
  if ok + failed == #bodies then
    io.open(marker, "w"):close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local ok_all, failed_all, first_all, last_all = 0, 0, math.huge, 0
  for _, t in ipairs(threads) do
    ok_all = ok_all + t:get("ok")
    failed_all = failed_all + t:get("failed")
    if t:get("first") > 0 then first_all = math.min(first_all, t:get("first")) end
    last_all = math.max(last_all, t:get("last"))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"ok": %d, "failed": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, "socket_errors": %d}\\n',
    ok_all, failed_all, math.max(0, last_all - first_all), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout))
end
"""
WRK_THREADS = 2
WRK_GRACE_SECONDS = 30.0  # beyond -d, for wrk to stop its threads and print (then it is killed)


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "httpx (wrk not installed: the client is the bottleneck)"


def wrk_post_all(url: str, bodies: list[dict[str, Any]], concurrency: int, work_dir: Path, *, seconds: float) -> Run:
    """As ``post_all`` through wrk, for at most ``seconds``. Latencies are wrk's histogram (which
    wrk corrects for coordinated omission, so its p99 is if anything high); failures are non-2xx
    answers and socket errors. Every wait has a wall-clock limit."""
    tag = secrets.token_hex(4)
    script, bodies_file, marker = (
        work_dir / "survey_intake.lua",
        work_dir / f"bodies-{tag}.jsonl",
        work_dir / f"wrk-{tag}",
    )
    script.write_text(WRK_SCRIPT)
    bodies_file.write_text("".join(json.dumps(body, separators=(",", ":")) + "\n" for body in bodies))
    duration = max(1, round(seconds))
    args = ["wrk", f"-t{WRK_THREADS}", f"-c{concurrency}", f"-d{duration}s", "--timeout", "10s", "-s", str(script)]
    args += [url, "--", str(bodies_file), str(WRK_THREADS), str(marker)]
    markers = [Path(f"{marker}.{i}") for i in range(WRK_THREADS)]
    deadline = time.monotonic() + duration + WRK_GRACE_SECONDS
    try:
        with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
            while process.poll() is None and time.monotonic() < deadline and not all(m.exists() for m in markers):
                time.sleep(0.02)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # wrk ends its run early and prints its summary
            try:
                out, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate(timeout=10)
    finally:
        bodies_file.unlink(missing_ok=True)
        for m in markers:
            m.unlink(missing_ok=True)
    line = next((row for row in out.splitlines() if row.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures:\n{out[-4000:]}")
    result = json.loads(line.removeprefix("WRK_RESULT "))
    run = Run(result["ok"], result["seconds"], result["p50_ms"], result["p99_ms"])
    if result["failed"]:
        run.failures["non-2xx"] = result["failed"]
    if result["socket_errors"]:
        run.failures["socket"] = result["socket_errors"]
    return run


def drive(url: str, bodies: list[dict[str, Any]], concurrency: int, work_dir: Path, *, seconds: float) -> Run:
    if shutil.which("wrk"):
        return wrk_post_all(url, bodies, concurrency, work_dir, seconds=seconds)
    return asyncio.run(post_all(url, bodies, concurrency))


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


WARM_RESPONSES = 500  # per pair, before measuring: connections, caches, prepared statements


def start_pair(
    source: Path, common: dict[str, str], jwks_path: Path, data_dir: Path, concurrency: int, workers: int = 1
) -> tuple[ServiceProcess, ServiceProcess]:
    """survey_svc and a gateway routing to it, from the source tree ``source``, on free ports, each
    with ``workers`` uvicorn worker processes."""
    gateway_port, survey_port = find_free_port(), find_free_port()
    processes = ("--workers", str(workers)) if workers > 1 else ()
    gateway_spec = get_service("gateway")
    if not (source / "services" / "gateway" / "server.py").exists():  # a baseline from before it
        gateway_spec = dataclasses.replace(gateway_spec, server_args=())
    gateway = start_service(
        gateway_spec,
        gateway_port,
        {
            **common,
            "GOVPERF_JWKS_FILE": str(jwks_path),
            "GOVPERF_UPSTREAMS": json.dumps({"survey": f"http://127.0.0.1:{survey_port}"}),
            "GOVPERF_ADMIN_PASSWORD": secrets.token_urlsafe(16),
            "GOVPERF_UPSTREAM_MAX_CONNECTIONS": str(concurrency * 2),
            # Every request comes from one address: lift its limit so the bench measures the path.
            "GOVPERF_RATE_LIMIT_PER_MINUTE": "100000000",
            "GOVPERF_RATE_LIMIT_BURST": "1000000",
        },
        log_dir=data_dir,
        extra_args=processes,
        source=source,
    )
    try:
        survey = start_service(
            get_service("survey"),
            survey_port,
            {
                **common,
                "GOVPERF_JWKS_FILE": str(jwks_path),
                # The gateway's keys too, as deployed: its intake batches carry its service token.
                "GOVPERF_JWKS_URL": f"http://127.0.0.1:{gateway_port}/.well-known/jwks.json",
                "GOVPERF_DB_POOL_SIZE": str(max(2, concurrency // 2 // workers)),
            },
            log_dir=data_dir,
            # Longer than the gateway pool's keep-alive expiry: otherwise the service may close a
            # pooled connection as the gateway sends on it (a 502).
            extra_args=("--timeout-keep-alive", "60", *processes),
            source=source,
        )
    except BaseException:
        gateway.stop()
        raise
    return gateway, survey


def postgres_processes(database_url: str) -> list[psutil.Process]:
    """The embedded server's postmaster and its backends (its socket directory is its data directory)."""
    socket_dir = Path(database_url.rsplit("host=", 1)[1].split("&", 1)[0])
    try:
        postmaster = psutil.Process(int((socket_dir / "postmaster.pid").read_text().split()[0]))
        return [postmaster, *postmaster.children(recursive=True)]
    except (OSError, ValueError, psutil.Error):
        return []


def own_process(service: ServiceProcess) -> list[psutil.Process]:
    """The uvicorn process and its workers, if it has any."""
    process = psutil.Process(service.process.pid)
    return [process, *process.children(recursive=True)]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:  # a backend that ended meanwhile
            continue
        total += times.user + times.system
    return total


ROUND_METRICS = {
    "govperf_rounds_total": "rounds",
    "govperf_round_items_total": "items",
    "govperf_round_wait_seconds_total": "wait",
    "govperf_round_seconds_total": "busy",
}


HTTP_METRICS = {"govperf_http_request_seconds_count": "rounds", "govperf_http_request_seconds_sum": "busy"}


def round_sums(metrics_urls: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """The round metrics (``shared.rounds``) of each process, summed per round name, and each
    process's POST requests as a stage ``<process>-http-post`` (their time in the app: from the
    request id middleware until the answer is sent)."""
    sums: dict[str, dict[str, float]] = {}
    for process, url in metrics_urls.items():
        text = httpx.get(f"{url}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                field_name = ROUND_METRICS.get(sample.name)
                name = sample.labels.get("name")
                if sample.name in HTTP_METRICS and sample.labels.get("method") == "POST":
                    field_name, name = HTTP_METRICS[sample.name], f"{process}-http-post"
                if field_name is not None and name is not None:
                    stage = sums.setdefault(name, dict.fromkeys(ROUND_METRICS.values(), 0.0))
                    stage[field_name] += sample.value
                    if field_name == "rounds" and name.endswith("-http-post"):
                        stage["items"] += sample.value  # a request is a round of one
    return sums


def stage_figures(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], seconds: float
) -> dict[str, dict[str, float]]:
    """Per round stage over a run: rounds per second, mean items per round, mean queue wait of an
    item and mean time of a round (what an item spends there: wait + round)."""
    stages = {}
    for name, end in after.items():
        start = before.get(name, dict.fromkeys(ROUND_METRICS.values(), 0.0))
        rounds, items = end["rounds"] - start["rounds"], end["items"] - start["items"]
        if rounds <= 0:
            continue
        stages[name] = {
            "rounds_per_s": round(rounds / seconds, 1),
            "items_per_round": round(items / rounds, 1),
            "wait_ms": round((end["wait"] - start["wait"]) * 1000 / max(items, 1), 2),
            "round_ms": round((end["busy"] - start["busy"]) * 1000 / rounds, 2),
        }
    return stages


def children_cpu_seconds() -> float:
    """CPU time of this process's ended and reaped children (the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_intake(
    url: str,
    bodies: list[dict[str, Any]],
    concurrency: int,
    work_dir: Path,
    *,
    seconds: float,
    cpu: dict[str, Callable[[], list[psutil.Process]]],
    profile: dict[str, Path] | None = None,
    metrics_urls: Mapping[str, str] | None = None,
) -> tuple[Run, dict[str, float], dict[str, dict[str, float]]]:
    """One intake run, with the CPU time each process group spent per accepted response (the
    postgres backends are listed afresh: pools connect as the run starts) and the round stages of
    the processes at ``metrics_urls``. ``profile`` names a collapsed-stacks file per process group
    to sample with py-spy during the run."""
    profilers = start_profilers(cpu, profile or {}, seconds)
    rounds_before = round_sums(metrics_urls or {})
    before = {name: cpu_seconds(processes()) for name, processes in cpu.items()}
    before["client"] = children_cpu_seconds()
    run = drive(url, bodies, concurrency, work_dir, seconds=seconds)
    after = {name: cpu_seconds(processes()) for name, processes in cpu.items()}
    after["client"] = children_cpu_seconds()  # wrk, ended and reaped by now
    stages = stage_figures(rounds_before, round_sums(metrics_urls or {}), run.seconds)
    stop_profilers(profilers)
    per_response = {name: round((after[name] - before[name]) * 1000 / max(run.answered, 1), 3) for name in after}
    return run, per_response, stages


def start_profilers(
    cpu: dict[str, Callable[[], list[psutil.Process]]], files: dict[str, Path], seconds: float
) -> list[subprocess.Popen[bytes]]:
    """py-spy on the first process of each group named in ``files`` (collapsed stacks, for flame
    graphs or grep); non-blocking sampling, so the profiled process is not paused."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return []
    profilers = []
    for name, path in files.items():
        processes = cpu[name]()
        if not processes:
            continue
        args = [
            spy,
            "record",
            "--nonblocking",
            "--subprocesses",
            "--format",
            "raw",
            "-r",
            "250",
            "-d",
            str(int(seconds) + 5),
        ]
        args += ["-p", str(processes[0].pid), "-o", str(path)]
        profilers.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)  # attached before the load starts
    return profilers


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes what it has sampled and exits
    for profiler in profilers:
        try:
            profiler.wait(30)
        except subprocess.TimeoutExpired:
            profiler.kill()


def figures(prefix: str, run: Run) -> dict[str, Any]:
    return {
        f"{prefix}_rps": round(run.rps, 1),
        f"{prefix}_p50_ms": round(run.p50_ms, 2),
        f"{prefix}_p99_ms": round(run.p99_ms, 2),
        f"{prefix}_answered": run.answered,
        f"{prefix}_seconds": round(run.seconds, 3),
    }


def measure_pair(
    label: str,
    source: Path,
    common: dict[str, str],
    keys: DevKeys,
    data_dir: Path,
    bodies: list[dict[str, Any]],
    token: str,
    concurrency: int,
    seconds: float,
    profile_dir: Path | None,
    workers: int,
) -> tuple[Run, dict[str, float], dict[str, dict[str, float]]]:
    """survey_svc and a gateway from ``source``, started for this run only, warmed and measured
    on a fresh campaign."""
    responses = len(bodies)
    gateway, survey = start_pair(source, common, keys.jwks_path, data_dir, concurrency, workers)
    try:
        for process in (gateway, survey):
            process.wait_ready()
        tokens = prepare_campaign(survey.url, {"Authorization": f"Bearer {token}"}, responses + WARM_RESPONSES)
        posts = [{**body, "token": t} for body, t in zip(bodies, tokens, strict=False)]
        warm = [{**bodies[0], "token": t} for t in tokens[responses:]]
        url = f"{gateway.url}/public/surveys/responses"
        drive(url, warm, concurrency, data_dir, seconds=60)  # connections, caches, prepared statements
        cpu: dict[str, Callable[[], list[psutil.Process]]] = {
            "survey": partial(own_process, survey),
            "gateway": partial(own_process, gateway),
            "postgres": partial(postgres_processes, common["GOVPERF_DATABASE_URL"]),
        }
        profile = (
            {name: profile_dir / f"{label}-{name}.txt" for name in ("gateway", "survey")}
            if profile_dir is not None
            else None
        )
        return measure_intake(
            url,
            posts,
            concurrency,
            data_dir,
            seconds=seconds,
            cpu=cpu,
            profile=profile,
            metrics_urls={"gateway": gateway.url, "survey": survey.url},
        )
    finally:
        survey.stop()
        gateway.stop()


def intake(
    database_url: str,
    nats_url: str,
    data_dir: Path,
    *,
    responses: int,
    concurrency: int,
    seconds: float,
    baseline: Path | None = None,
    profile_dir: Path | None = None,
    workers: int = 1,
    log_level: str = "WARNING",
    rounds: int = 1,
) -> dict[str, Any]:
    """``responses`` tokens per measured run, which ends when they are spent or after ``seconds``;
    with ``profile_dir``, py-spy samples the gateway and survey_svc of each measured run there."""
    for name in ("survey", "gateway"):
        upgrade(get_service(name), database_url)
    keys = ensure_dev_keys(data_dir / "keys")
    common = {
        "GOVPERF_ENV": "development",
        "GOVPERF_DATABASE_URL": database_url,
        "GOVPERF_NATS_URL": nats_url,
        "GOVPERF_LOG_LEVEL": log_level,  # INFO: one JSON access line per request in each process
        # Settings to try on both services of the measured pairs, e.g. '{"GOVPERF_X": "1"}'.
        **json.loads(os.environ.get("BENCH_SERVICE_ENV", "{}")),
    }
    # The baseline first, each pair running only while it is measured: an idle pair's background
    # loops (sealer, relay, job worker) would otherwise load the other's measurement.
    trees = ([("baseline_intake", baseline)] if baseline is not None else []) + [("intake", REPO)]
    token = mint_dev_token(keys, subject="bench", roles=["perf_office"], org_unit_id=ORG_UNIT, org_path="/gd/sz")
    rng = np.random.default_rng(1)
    bodies = [{"token": "bench", "answers": answers(rng), "duration_seconds": 200} for _ in range(responses)]
    result: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_generator": load_generator(),
        "clients": concurrency,
        "duration": seconds,
        "workers": workers,
        "log_level": log_level,
    }
    failures: dict[str, dict[str, int]] = {}
    hello = start_service(HELLO, find_free_port(), {}, log_dir=data_dir)
    try:
        hello.wait_ready()
        bare, bare_cpu, _ = measure_intake(
            hello.url, bodies, concurrency, data_dir, seconds=seconds, cpu={"hello": partial(own_process, hello)}
        )
    finally:
        hello.stop()
    result.update(figures("bare", bare))
    result["bare_cpu_ms_per_request"] = bare_cpu["hello"]
    failures["bare"] = dict(bare.failures)
    measured: dict[str, list[tuple[Run, dict[str, float], dict[str, dict[str, float]]]]] = {
        label: [] for label, _ in trees
    }
    for repeat in range(rounds):
        # On a shared machine the load drifts: with several rounds the trees take turns going first.
        for label, source in trees if repeat % 2 == 0 else trees[::-1]:
            measurement = measure_pair(
                label, source, common, keys, data_dir, bodies, token, concurrency, seconds, profile_dir, workers
            )
            measured[label].append(measurement)
    for label, runs in measured.items():
        run, per_response, stages = sorted(runs, key=lambda measurement: measurement[0].rps)[len(runs) // 2]
        result.update(figures(label, run))  # the run of median throughput, with its latencies
        result[f"{label}_cpu_ms_per_response"] = per_response
        result[f"{label}_stages"] = stages
        if rounds > 1:
            result[f"{label}_runs"] = [{**figures(label, r), f"{label}_cpu_ms_per_response": cpu} for r, cpu, _ in runs]
        failures[label] = dict(sum((r.failures for r, _, _ in runs), Counter()))
    result["responses"] = result["intake_answered"]
    result["failures"] = failures
    if baseline is not None:
        result["baseline_source"] = str(baseline)
    return result


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
