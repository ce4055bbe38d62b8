"""`govperf demo` refusing to start, as a user running it sees it (a subprocess, no platform)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.embedded import find_free_port

REPO = Path(__file__).resolve().parents[1]
SECRET = "demo-test-secret-password-1"


def demo(*args: str, password: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVPERF_")}
    if password is not None:
        env["GOVPERF_ADMIN_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "demo", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_demo_needs_the_admin_password() -> None:
    done = demo(password=None)
    assert done.returncode == 2
    assert "GOVPERF_ADMIN_PASSWORD" in done.stderr


def test_demo_names_an_unreachable_gateway_without_a_traceback_or_the_password() -> None:
    gateway = f"http://127.0.0.1:{find_free_port()}"  # nobody listens there
    done = demo("--gateway", gateway, password=SECRET)
    assert done.returncode == 1
    assert f"cannot reach the gateway at {gateway}" in done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stdout + done.stderr


def test_demo_refuses_a_province_code_that_is_no_org_path_segment() -> None:
    done = demo("--province", "../Etc", password=SECRET)
    assert done.returncode == 2
    assert "--province" in done.stderr


def test_progress_prints_a_line_per_step_and_per_tenth(capsys) -> None:
    from shared.cli import Progress

    progress = Progress()
    progress.step("Fieldwork")
    for done in range(1, 3001):
        progress.count(done, 3000)
    progress.step("Analysis")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[ 1] Fieldwork" and lines[-1] == "[ 2] Analysis"
    counts = lines[1:-1]
    # The start, then one line at each tenth: a log shows progress without 3,000 lines.
    assert [c.strip() for c in counts] == ["1/3000 (0%)"] + [f"{300 * i}/3000 ({10 * i}%)" for i in range(1, 11)]
