"""The `govperf` CLI, run for real as a subprocess (embedded PostgreSQL + NATS)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
INDICATOR_PORT = 8001
GATEWAY_PORT = 8000


def govperf(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dev_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVPERF_JWKS")}
    env["GOVPERF_ENV"] = "development"
    env.update(extra)
    return env


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short path on purpose: PostgreSQL's Unix socket lives inside it.
    path = Path(tempfile.mkdtemp(prefix="gp", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def jwt_claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def test_token_refused_outside_development(data_dir: Path) -> None:
    result = govperf("token", "--role", "admin", "--data-dir", str(data_dir), env=dev_env(GOVPERF_ENV="production"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "refused" in result.stderr


def test_token_in_development_is_a_jwt(data_dir: Path) -> None:
    result = govperf(
        "token",
        "--role",
        "perf_office",
        "--role",
        "audit",
        "--org-path",
        "/prov/city",
        "--data-dir",
        str(data_dir),
        env=dev_env(),
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert len(token.split(".")) == 3
    claims = jwt_claims(token)
    assert claims["roles"] == ["perf_office", "audit"]
    assert claims["org_path"] == "/prov/city"


def test_token_rejects_unknown_role(data_dir: Path) -> None:
    result = govperf("token", "--role", "superuser", "--data-dir", str(data_dir), env=dev_env())
    assert result.returncode == 2
    assert "unknown role" in result.stderr


def test_migrate_unknown_service_exits_2(data_dir: Path) -> None:
    result = govperf("migrate", "nope", "--data-dir", str(data_dir), env=dev_env())
    assert result.returncode == 2
    assert "unknown service" in result.stderr


# --------------------------------------------------------------------------- govperf up


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def leftover_processes(marker: str) -> list[str]:
    """Live processes whose command line or environment mentions `marker` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        stat = _read(entry / "stat")
        if not stat or stat.rsplit(")", 1)[-1].split()[0] == "Z":
            continue  # gone, or a zombie awaiting reaping by init
        cmdline = _read(entry / "cmdline")
        if marker in cmdline or marker in _read(entry / "environ"):
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"govperf up exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
        try:
            if all(
                httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
                for port in (INDICATOR_PORT, GATEWAY_PORT)
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"/readyz not 200 after {timeout}s:\n{log.read_text()[-4000:]}")


def run_up_once(data_dir: Path, log: Path, nth: int) -> None:
    """`govperf up` until the service and the gateway are ready, then SIGTERM: exit 0 and nothing of ours left."""
    env = dev_env()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up", "--data-dir", str(data_dir), "--nats-port", str(_free_port())],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(proc, log)
        # The service answers before `up` has seen it and printed its banner.
        deadline = time.monotonic() + 10
        while log.read_text().count("govperf is up.") < nth and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log.read_text().count("govperf is up.") == nth
        # A dev token works through the gateway and at the service, which verifies it against the
        # gateway's JWKS (the gateway publishes the dev key outside production).
        token = govperf("token", "--role", "audit", "--data-dir", str(data_dir), env=env).stdout.strip()
        bearer = {"Authorization": f"Bearer {token}"}
        via = httpx.get(f"http://127.0.0.1:{GATEWAY_PORT}/api/v1/indicator/frameworks?limit=1", headers=bearer)
        direct = httpx.get(f"http://127.0.0.1:{INDICATOR_PORT}/api/v1/frameworks?limit=1", headers=bearer)
        assert via.status_code == direct.status_code == 200, (via.text, direct.text)
        assert via.json() == direct.json()
        # Each child writes its own lines to the terminal, prefixed with its name.
        access_lines = [f'[{name}] {{"request_id"' for name in ("gateway", "indicator")]
        deadline = time.monotonic() + 10
        while not all(line in log.read_text() for line in access_lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(line in log.read_text() for line in access_lines), log.read_text()[-4000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(45) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 5
    while leftover_processes(str(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftover_processes(str(data_dir)) == []


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="process scan needs Linux /proc")
def test_up_serves_then_stops_without_orphans_and_reuses_data(data_dir: Path) -> None:
    for port in (INDICATOR_PORT, GATEWAY_PORT):
        if not _port_free(port):
            pytest.skip(f"port {port} is taken (a `govperf up` already running?)")
    log = data_dir / "up.log"
    run_up_once(data_dir, log, nth=1)
    assert (data_dir / "pg" / "PG_VERSION").exists()
    jwks = (data_dir / "keys" / "jwks.json").read_text()
    pg_created = (data_dir / "pg" / "PG_VERSION").stat().st_mtime_ns
    run_up_once(data_dir, log, nth=2)  # second start on the same folder reuses the data
    assert (data_dir / "pg" / "PG_VERSION").stat().st_mtime_ns == pg_created  # no second initdb
    assert (data_dir / "keys" / "jwks.json").read_text() == jwks  # same dev signing key


async def test_standalone_relay_publishes_the_outbox(migrated) -> None:
    """`govperf relay indicator` drains the service's outbox without the service running."""
    from sqlalchemy import text

    from services.indicator_svc.db import TABLES
    from shared.db import create_engine
    from shared.events import CloudEvent
    from shared.testing.plugin import wait_for

    engine = create_engine(migrated.database_url, pool_size=1)
    event = CloudEvent(type="indicator.relay.tested", source="test", data={"n": 1})
    async with engine.begin() as conn:
        await conn.execute(
            TABLES.outbox.insert().values(
                id=event.id,
                subject=event.nats_subject,
                envelope=event.model_dump(mode="json"),
                aggregate_id=str(event.id),
                sequence=1,
            )
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "relay", "indicator"],
        cwd=REPO,
        env=dev_env(GOVPERF_DATABASE_URL=migrated.database_url, GOVPERF_NATS_URL=migrated.nats_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    async def published() -> bool:
        async with engine.connect() as conn:
            return bool(
                await conn.scalar(
                    text("SELECT published_at IS NOT NULL FROM indicator.outbox WHERE id = :id"), {"id": event.id}
                )
            )

    try:
        await wait_for(published, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM indicator.outbox WHERE id = :id"), {"id": event.id})
        await engine.dispose()
    assert proc.returncode == 0, output
