"""gateway: latency the gateway adds. indicator_svc and the gateway run as real uvicorn processes on
the embedded stack; GET /api/v1/frameworks/{id} is timed straight to the service and through the
gateway (token verification, rate limiting, proxying) in the same run, interleaved in rounds."""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import time
from pathlib import Path

import httpx

from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework import codecs
from shared.auth.devkeys import ensure_dev_keys, mint_dev_token
from shared.embedded import find_free_port
from shared.migrations import upgrade
from shared.stack import get_service
from shared.testing.processes import ServiceProcess, start_service

ORG_UNIT = "00000000-0000-7000-8000-000000000001"


async def timed_requests(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], count: int, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            response = await client.get(url, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "requests_per_s": len(ordered) / seconds,
    }


async def measure(
    direct_url: str, gateway_url: str, headers: dict[str, str], requests: int, concurrency: int, rounds: int = 4
) -> dict[str, dict[str, float]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for url in (direct_url, gateway_url):  # warm connections, caches and JWKS
            await timed_requests(client, url, headers, 200, concurrency)
        results: dict[str, list[float]] = {"direct": [], "gateway": []}
        elapsed = {"direct": 0.0, "gateway": 0.0}
        per_round = requests // rounds
        for _ in range(rounds):  # interleaved, so drift (GC, autovacuum) hits both alike
            for name, url in (("direct", direct_url), ("gateway", gateway_url)):
                started = time.perf_counter()
                results[name] += await timed_requests(client, url, headers, per_round, concurrency)
                elapsed[name] += time.perf_counter() - started
    return {name: summary(values, elapsed[name]) for name, values in results.items()}


def run(database_url: str, nats_url: str, data_dir: Path, *, requests: int, concurrency: int) -> dict[str, object]:
    indicator_spec, gateway_spec = get_service("indicator"), get_service("gateway")
    for spec in (indicator_spec, gateway_spec):
        upgrade(spec, database_url)
    keys = ensure_dev_keys(data_dir / "keys")
    gateway_port, indicator_port = find_free_port(), find_free_port()
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
                "GOVPERF_UPSTREAMS": json.dumps({"indicator": f"http://127.0.0.1:{indicator_port}"}),
                "GOVPERF_ADMIN_PASSWORD": secrets.token_urlsafe(16),
                # One principal sends every request: lift its limit so the bench measures the path, not 429s.
                "GOVPERF_RATE_LIMIT_PER_MINUTE": "100000000",
                "GOVPERF_RATE_LIMIT_BURST": "1000000",
            },
            log_dir=data_dir,
        )
        processes.append(gateway)
        gateway.wait_ready()
        indicator = start_service(
            indicator_spec,
            indicator_port,
            {**common, "GOVPERF_JWKS_URL": f"{gateway.url}/.well-known/jwks.json"},
            log_dir=data_dir,
        )
        processes.append(indicator)
        indicator.wait_ready()
        token = mint_dev_token(keys, subject="bench", roles=["perf_office"], org_unit_id=ORG_UNIT, org_path="/gd/sz")
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{indicator.url}/api/v1/frameworks/import",
            headers=headers,
            timeout=30,
            params={"format": "json", "org_unit_id": ORG_UNIT, "org_path": "/gd/sz"},
            content=codecs.to_json(load_city_framework()),
        )
        created.raise_for_status()
        framework_id = created.json()["id"]
        figures = asyncio.run(
            measure(
                f"{indicator.url}/api/v1/frameworks/{framework_id}",
                f"{gateway.url}/api/v1/indicator/frameworks/{framework_id}",
                headers,
                requests,
                concurrency,
            )
        )
    finally:
        for process in reversed(processes):
            process.stop()
    direct, through = figures["direct"], figures["gateway"]
    return {
        "concurrency": concurrency,
        "direct": direct,
        "gateway": through,
        "added_median_ms": through["median_ms"] - direct["median_ms"],
        "added_p99_ms": through["p99_ms"] - direct["p99_ms"],
    }
