"""requests: throughput and latency of the request path, side by side in one run.

Starts a bare FastAPI hello app (the yardstick), indicator_svc and the gateway as real uvicorn
processes on the embedded stack, then drives each target at 1, 16 and 64 connections and prints
req/s, p50, p99 and the CPU time per request of every process involved (psutil). The load
generator is ``wrk`` when it is on the PATH, else a small keep-alive HTTP/1.1 client bundled here;
the output names the one used. Targets are interleaved per round, so drift on a shared machine
hits all of them alike; ``--rounds`` repeats the whole sweep and the spread is printed.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework import codecs
from shared.auth.devkeys import ensure_dev_keys
from shared.embedded import find_free_port
from shared.migrations import upgrade
from shared.stack import ServiceSpec, get_service
from shared.testing.processes import ServiceProcess, start_service

ORG_UNIT = "00000000-0000-7000-8000-000000000001"
HELLO = ServiceSpec("hello", "bench.hello_app", 0, "public")
CONNECTIONS = (1, 16, 64)


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    processes: list[ServiceProcess]


@dataclass
class Sample:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------- load generators

_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")
_WRK_PCT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_WRK_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk(url: str, headers: dict[str, str], connections: int, seconds: float) -> Sample:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    total = _WRK_TOTAL.search(out)
    if total is None:
        raise RuntimeError(f"wrk gave no figures:\n{out}")
    percentiles = {p: float(v) * _UNIT[u] for p, v, u in _WRK_PCT.findall(out)}
    non2xx = _WRK_NON2XX.search(out)
    socket_errors = _WRK_SOCKET_ERRORS.search(out)
    errors = int(non2xx.group(1)) if non2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Sample(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNIT[total.group(3)] / 1000.0,
        p50_ms=percentiles.get("50", 0.0),
        p99_ms=percentiles.get("99", 0.0),
        errors=errors,
    )


async def _keepalive_client(url: str, headers: dict[str, str], connections: int, seconds: float) -> Sample:
    parsed = httpx.URL(url)
    path = parsed.raw_path.decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if length is None:
                    raise RuntimeError(f"{url}: the bundled client needs Content-Length")
                await reader.readexactly(int(length.group(1)))
                latencies.append(time.perf_counter() - started)
                errors += status >= 400
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return Sample(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        errors=errors,
    )


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "bundled asyncio keep-alive client"


def drive(url: str, headers: dict[str, str], connections: int, seconds: float) -> Sample:
    if shutil.which("wrk"):
        return wrk(url, headers, connections, seconds)
    return asyncio.run(_keepalive_client(url, headers, connections, seconds))


def measure(target: Target, connections: int, seconds: float, profile_dir: Path | None = None) -> Sample:
    handles = {p.spec.name: psutil.Process(p.process.pid) for p in target.processes}
    before = {name: sum(h.cpu_times()[:2]) for name, h in handles.items()}
    profilers = []
    if profile_dir is not None and shutil.which("py-spy"):
        # Collapsed stacks per process (py-spy record --format raw), for flame graphs or grep.
        slug = re.sub(r"[^a-z0-9]+", "-", target.name.lower()).strip("-")
        profilers = [
            subprocess.Popen(
                [
                    *("py-spy", "record", "--format", "raw", "-r", "200", "-d", str(int(seconds))),
                    *("-p", str(p.process.pid), "-o", str(profile_dir / f"{slug}-c{connections}-{p.spec.name}.txt")),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for p in target.processes
        ]
    sample = drive(target.url, target.headers, connections, seconds)
    for profiler in profilers:
        profiler.wait(30)
    for name, handle in handles.items():
        spent = sum(handle.cpu_times()[:2]) - before[name]
        sample.cpu_ms_per_request[name] = spent * 1000 / max(1, sample.requests)
    return sample


# --------------------------------------------------------------------------- the platform


def _fixture(gateway: ServiceProcess, indicator: ServiceProcess, admin_password: str) -> dict[str, str]:
    """An admin token from the gateway, a published framework and 20 drafts to list."""
    token = httpx.post(
        f"{gateway.url}/oauth/token",
        data={"grant_type": "password", "username": "admin", "password": admin_password},
        timeout=30,
    )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    content = load_city_framework()
    # Each platform of the run imports its own copy (a code is unique per org unit and version).
    content = content.model_copy(update={"code": f"{content.code}-{secrets.token_hex(3)}"})
    with httpx.Client(base_url=f"{indicator.url}/api/v1", headers=headers, timeout=30) as api:
        created = api.post(
            "/frameworks/import",
            params={"format": "json", "org_unit_id": ORG_UNIT, "org_path": "/gd/sz"},
            content=codecs.to_json(content),
        )
        created.raise_for_status()
        framework = created.json()
        published = api.post(
            f"/frameworks/{framework['id']}/publish",
            headers={"If-Match": f'"{framework["lock_version"]}"'},
            json={"override_reason": "benchmark fixture, policy checks not the point"},
        )
        published.raise_for_status()
        draft_id = ""
        run_id = secrets.token_hex(3)
        for n in range(20):
            draft = api.post(
                "/frameworks",
                json={
                    "code": f"bench-{run_id}-{n}",
                    "name": f"Bench {n}",
                    "org_unit_id": ORG_UNIT,
                    "org_path": "/gd/sz",
                },
            )
            draft.raise_for_status()
            draft_id = draft.json()["id"]
    return {"published_id": framework["id"], "draft_id": draft_id, **headers}


def start_platform(
    source: Path, common: dict[str, str], keys_path: Path, admin_password: str, data_dir: Path
) -> tuple[ServiceProcess, ServiceProcess]:
    """indicator_svc and the gateway from the source tree ``source``, on free ports."""
    indicator_spec, gateway_spec = get_service("indicator"), get_service("gateway")
    gateway_port, indicator_port = find_free_port(), find_free_port()
    gateway = start_service(
        gateway_spec,
        gateway_port,
        {
            **common,
            "GOVPERF_JWKS_FILE": str(keys_path),
            "GOVPERF_UPSTREAMS": json.dumps({"indicator": f"http://127.0.0.1:{indicator_port}"}),
            "GOVPERF_ADMIN_PASSWORD": admin_password,
            # One principal sends every request: the limits stay on, raised through settings.
            "GOVPERF_RATE_LIMIT_PER_MINUTE": "100000000",
            "GOVPERF_RATE_LIMIT_BURST": "1000000",
        },
        log_dir=data_dir,
        source=source,
    )
    try:
        gateway.wait_ready()
        indicator = start_service(
            indicator_spec,
            indicator_port,
            {**common, "GOVPERF_JWKS_URL": f"{gateway.url}/.well-known/jwks.json"},
            log_dir=data_dir,
            source=source,
        )
    except BaseException:
        gateway.stop()
        raise
    return gateway, indicator


def platform_targets(
    label: str, gateway: ServiceProcess, indicator: ServiceProcess, fixture: dict[str, str]
) -> list[Target]:
    auth = {"Authorization": fixture["Authorization"]}
    published, draft = fixture["published_id"], fixture["draft_id"]
    svc, gw = f"{indicator.url}/api/v1", f"{gateway.url}/api/v1"
    return [
        Target(f"{label}service GET by id (published)", f"{svc}/frameworks/{published}", auth, [indicator]),
        Target(f"{label}service GET by id (draft)", f"{svc}/frameworks/{draft}", auth, [indicator]),
        Target(f"{label}service list of 20", f"{svc}/frameworks?limit=20", auth, [indicator]),
        Target(
            f"{label}gateway GET by id (published)",
            f"{gw}/indicator/frameworks/{published}",
            auth,
            [gateway, indicator],
        ),
        Target(f"{label}gateway GET by id (draft)", f"{gw}/indicator/frameworks/{draft}", auth, [gateway, indicator]),
        Target(f"{label}gateway /api/v1/me", f"{gw}/me", auth, [gateway]),
    ]


def run(
    database_url: str,
    nats_url: str,
    data_dir: Path,
    *,
    seconds: float,
    rounds: int,
    connections: tuple[int, ...],
    profile_dir: Path | None = None,
    baseline: Path | None = None,
) -> dict[str, object]:
    """``baseline``: another source tree (e.g. ``git archive main``) run alongside, same database."""
    for spec in (get_service("indicator"), get_service("gateway")):
        upgrade(spec, database_url)
    keys = ensure_dev_keys(data_dir / "keys")
    admin_password = secrets.token_urlsafe(16)
    common = {
        "GOVPERF_ENV": "development",
        "GOVPERF_DATABASE_URL": database_url,
        "GOVPERF_NATS_URL": nats_url,
        "GOVPERF_LOG_LEVEL": "INFO",  # access log on, as in production
    }
    processes: list[ServiceProcess] = []
    try:
        hello = start_service(HELLO, find_free_port(), {}, log_dir=data_dir)
        processes.append(hello)
        targets = [Target("bare FastAPI hello", f"{hello.url}/hello", {}, [hello])]
        trees = [("", Path(__file__).resolve().parents[1])]
        if baseline is not None:
            trees.append(("[baseline] ", baseline))
        for label, source in trees:
            gateway, indicator = start_platform(source, common, keys.jwks_path, admin_password, data_dir)
            processes += [gateway, indicator]
            indicator.wait_ready()
            targets += platform_targets(label, gateway, indicator, _fixture(gateway, indicator, admin_password))
        _wait_hello(hello)
        for target in targets:  # warm pools, caches and the JWKS
            drive(target.url, target.headers, 4, 1.0)
        samples: dict[tuple[str, int], list[Sample]] = {}
        for _ in range(rounds):
            for conns in connections:
                for target in targets:
                    profile = profile_dir if conns == 16 else None
                    samples.setdefault((target.name, conns), []).append(measure(target, conns, seconds, profile))
    finally:
        for process in reversed(processes):
            process.stop()
    return {"load_generator": load_generator(), "seconds_per_sample": seconds, "rounds": rounds, "samples": samples}


def _wait_hello(process: ServiceProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{process.url}/hello", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"hello app not ready:\n{process.output()}")


def report(result: dict[str, object]) -> str:
    samples = result["samples"]
    assert isinstance(samples, dict)
    lines = [
        f"load generator: {result['load_generator']}; {result['seconds_per_sample']} s per sample, "
        f"{result['rounds']} round(s), median over rounds (min-max req/s)",
        f"{'target':34} {'conns':>5} {'req/s':>8} {'spread':>15} {'p50 ms':>8} {'p99 ms':>8} {'err':>5}  CPU ms/req",
    ]
    for (name, conns), runs in samples.items():
        rates = [s.requests_per_s for s in runs]
        middle = sorted(runs, key=lambda s: s.requests_per_s)[len(runs) // 2]
        cpu = ", ".join(f"{proc} {ms:.3f}" for proc, ms in middle.cpu_ms_per_request.items())
        lines.append(
            f"{name:34} {conns:>5} {statistics.median(rates):>8,.0f} {min(rates):>7,.0f}-{max(rates):<7,.0f} "
            f"{middle.p50_ms:>8.2f} {middle.p99_ms:>8.2f} {sum(s.errors for s in runs):>5}  {cpu}"
        )
    return "\n".join(lines)
