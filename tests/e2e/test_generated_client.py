"""An integrator's first hour: generate a Python client from the gateway's live /openapi.json and
run examples/publish_framework.py with it, which logs in and publishes a framework."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text

from shared.db import create_engine
from tests.e2e.conftest import ORG_PATH, ORG_UNIT

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "publish_framework.py"


def generate_client(document_url: str, into: Path) -> None:
    spec = into / "openapi.json"
    spec.write_bytes(httpx.get(document_url, timeout=30).raise_for_status().content)
    config = into / "config.yaml"
    config.write_text("post_hooks: []\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    output = ["--output-path", str(into / "govperf_client")]
    result = subprocess.run(
        [str(generator), "generate", "--path", str(spec), "--meta", "none", "--config", str(config), *output],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0 and "arning" not in result.stdout + result.stderr, result.stdout + result.stderr


async def forget_framework(database_url: str, framework_id: str) -> None:
    """Published frameworks are permanent (the freeze trigger refuses deletion); this test's one is
    removed with triggers off so other suites' lists stay theirs."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text("DELETE FROM indicator.indicator WHERE framework_id = :id"), {"id": framework_id})
            await conn.execute(text("DELETE FROM indicator.framework WHERE id = :id"), {"id": framework_id})
    finally:
        await engine.dispose()


async def test_a_generated_client_logs_in_and_publishes_a_framework(platform, http, headers, migrated, tmp_path):
    generate_client(f"{platform.gateway.url}/openapi.json", tmp_path)
    username, password = f"e2e-client-{uuid.uuid4().hex[:8]}", f"client example {uuid.uuid4().hex}"
    user = {
        "username": username,
        "display_name": "Example integrator",
        "password": password,
        "roles": ["perf_office"],
        "org_unit_id": ORG_UNIT,
        "org_path": ORG_PATH,
    }
    created = await http.post(
        f"{platform.gateway.url}/api/v1/admin/users", json=user, headers=headers("admin", org_path="/")
    )
    assert created.status_code == 201, created.text

    where = ["--org-path", ORG_PATH, "--org-unit-id", ORG_UNIT, "--client-dir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--gateway", platform.gateway.url, "--username", username, *where],
        env={**os.environ, "GOVPERF_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(r"published (\S+) version 1 status published\ncontent_hash (\S+)", result.stdout)
    assert result.returncode == 0 and found, result.stdout + result.stderr
    framework_id, content_hash = found.groups()
    try:
        read = await http.get(platform.via_gateway(f"/frameworks/{framework_id}"), headers=headers())
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "published" and read.json()["content_hash"] == content_hash
        assert read.json()["org_path"] == ORG_PATH
    finally:
        await forget_framework(migrated.database_url, framework_id)
