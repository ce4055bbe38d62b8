"""Service processes for end-to-end tests and benchmarks: real uvicorn children on free ports."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.stack import ServiceSpec

REPO = Path(__file__).resolve().parents[2]


class ProcessFailed(RuntimeError):
    """A service process exited or never became ready; the message carries its output."""


@dataclass
class ServiceProcess:
    """One uvicorn child; its output goes to a file so a failure can show it."""

    spec: ServiceSpec
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no output>"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ProcessFailed(f"{self.spec.name} exited with {self.process.returncode}:\n{self.output()}")
                with contextlib.suppress(httpx.HTTPError):  # not listening yet
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return
                time.sleep(0.1)
        raise ProcessFailed(f"{self.spec.name} not ready after {timeout:.0f}s:\n{self.output()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_service(
    spec: ServiceSpec,
    port: int,
    env: dict[str, str],
    *,
    log_dir: Path | None = None,
    extra_args: tuple[str, ...] = (),
    source: Path = REPO,
) -> ServiceProcess:
    """Start ``spec`` under uvicorn on ``port`` with ``env`` layered over this process's environment
    (GOVPERF_* variables of the caller are dropped so a developer's shell cannot leak in).
    ``source`` is the source tree the child imports (a benchmark may run an older one alongside)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GOVPERF_")}
    full_env.update(env)
    full_env["PYTHONUNBUFFERED"] = "1"
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="gp-proc-", dir="/tmp"))
    log_path = log_dir / f"{spec.name}-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our interpreter running uvicorn on our own app
            [
                sys.executable,
                "-m",
                "uvicorn",
                spec.app_factory,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                *spec.server_args,
                *extra_args,
            ],
            cwd=source,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServiceProcess(spec=spec, port=port, process=process, log_path=log_path, env=full_env)
