"""The running platform for end-to-end tests: indicator_svc and the gateway as real uvicorn processes
on free ports, on the session's PostgreSQL and NATS, plus a slow upstream and a dead one."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from shared.auth.devkeys import DevKeys
from shared.embedded import find_free_port
from shared.stack import get_service
from shared.testing.plugin import Infra
from shared.testing.processes import ServiceProcess, start_service

CORS_ORIGIN = "https://portal.example.gov"
# The timeout must exceed the slowest real call here (a 2000-indicator xlsx export, ~2 s).
UPSTREAM_TIMEOUT = 5.0  # every service's default; the 2000-indicator export needs ~2 s on 2 cores
SLOW_UPSTREAM_TIMEOUT = 1.0  # the "slow" service's own timeout
SLOW_SECONDS = 12.0
RATE_BURST = 60
TOKEN_RATE_PER_MINUTE = 30  # the token endpoint's bucket then holds 5


class SlowHandler(BaseHTTPRequestHandler):
    """Answers every request, but only after the gateway has given up on it."""

    def do_GET(self) -> None:
        time.sleep(SLOW_SECONDS)
        with contextlib.suppress(OSError):  # the gateway hung up first, as it should
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return None


@dataclass
class Platform:
    gateway: ServiceProcess
    indicator: ServiceProcess
    created: list[str] = field(default_factory=list)

    def via_gateway(self, path: str) -> str:
        """``/frameworks`` -> the gateway URL routing it to indicator_svc."""
        return f"{self.gateway.url}/api/v1/indicator{path}"

    def direct(self, path: str) -> str:
        return f"{self.indicator.url}/api/v1{path}"


# Package scope: the processes (and indicator_svc's outbox relay) are gone before other suites run.
@pytest.fixture(scope="package")
def platform(migrated: Infra, dev_keys: DevKeys) -> Iterator[Platform]:
    slow = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    slow.daemon_threads = True
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    gateway_port, indicator_port, dead_port = find_free_port(), find_free_port(), find_free_port()
    log_dir = migrated.data_dir
    common = {
        "GOVPERF_ENV": "test",
        "GOVPERF_DATABASE_URL": migrated.database_url,
        "GOVPERF_NATS_URL": migrated.nats_url,
        "GOVPERF_DB_POOL_SIZE": "5",
        "GOVPERF_LOG_LEVEL": "WARNING",
    }
    upstreams = {
        "indicator": f"http://127.0.0.1:{indicator_port}",
        "slow": f"http://127.0.0.1:{slow.server_address[1]}",
        "down": f"http://127.0.0.1:{dead_port}",
    }
    gateway_env = {
        **common,
        "GOVPERF_JWKS_FILE": str(dev_keys.jwks_path),
        "GOVPERF_UPSTREAMS": json.dumps(upstreams),
        "GOVPERF_UPSTREAM_TIMEOUT_SECONDS": str(UPSTREAM_TIMEOUT),
        "GOVPERF_UPSTREAM_TIMEOUTS": json.dumps({"slow": SLOW_UPSTREAM_TIMEOUT}),
        "GOVPERF_UPSTREAM_CONNECT_TIMEOUT_SECONDS": "1",
        "GOVPERF_CORS_ORIGINS": json.dumps([CORS_ORIGIN]),
        "GOVPERF_RATE_LIMIT_PER_MINUTE": "600",
        "GOVPERF_RATE_LIMIT_BURST": str(RATE_BURST),
        "GOVPERF_TOKEN_RATE_LIMIT_PER_MINUTE": str(TOKEN_RATE_PER_MINUTE),
        # Set, so a first start prints no generated password; tests make their own users.
        "GOVPERF_ADMIN_PASSWORD": "e2e-" + secrets.token_urlsafe(16),
        "GOVPERF_PASSWORD_HASH_TIME_COST": "1",
        "GOVPERF_PASSWORD_HASH_MEMORY_KIB": "1024",
    }
    processes: list[ServiceProcess] = []
    try:
        gateway = start_service(get_service("gateway"), gateway_port, gateway_env, log_dir=log_dir)
        processes.append(gateway)
        gateway.wait_ready()
        # As in production, the service trusts exactly what the gateway's JWKS lists.
        jwks = {"GOVPERF_JWKS_URL": f"{gateway.url}/.well-known/jwks.json"}
        indicator = start_service(get_service("indicator"), indicator_port, {**common, **jwks}, log_dir=log_dir)
        processes.append(indicator)
        indicator.wait_ready()
        running = Platform(gateway=gateway, indicator=indicator)
        yield running
        _delete_created(running, dev_keys)
    finally:
        for process in reversed(processes):
            process.stop()
        slow.shutdown()
        slow.server_close()


def _delete_created(platform: Platform, dev_keys: DevKeys) -> None:
    """Drafts made here are committed for real: remove them so other suites' lists stay theirs."""
    from shared.auth.devkeys import mint_dev_token

    token = mint_dev_token(dev_keys, subject="e2e-cleanup", roles=["admin"], org_unit_id=ORG_UNIT, org_path="/")
    with httpx.Client(timeout=30) as client:
        auth = {"Authorization": f"Bearer {token}"}
        for framework_id in platform.created:
            read = client.get(platform.direct(f"/frameworks/{framework_id}"), headers=auth)
            if read.status_code == 200:
                client.delete(
                    platform.direct(f"/frameworks/{framework_id}"), headers={**auth, "If-Match": read.headers["ETag"]}
                )


ORG_UNIT = "00000000-0000-7000-8000-0000000000e2"
ORG_PATH = "/e2e"


@pytest.fixture
def headers(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """Bearer headers for a fresh subject, so one test never spends another's rate-limit bucket."""

    def factory(*roles: str, org_path: str = ORG_PATH) -> dict[str, str]:
        token = make_token(*(roles or ("perf_office",)), org_path=org_path, subject=f"e2e-{uuid.uuid4().hex[:12]}")
        return {"Authorization": f"Bearer {token}"}

    return factory


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
