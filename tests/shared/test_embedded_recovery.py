"""The embedded PostgreSQL of `govperf up` and the tests after a crash: a stale postmaster.pid whose
pid now belongs to another program is recovered from; a damaged data folder is named, not a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.embedded import EmbeddedStartError, start_postgres

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gp", dir="/tmp"))  # short: the Unix socket lives inside
    yield path
    shutil.rmtree(path, ignore_errors=True)


def stopped_cluster(data_dir: Path) -> str:
    """Create a cluster, stop it cleanly; returns the postmaster.pid it had while running."""
    pg = start_postgres(data_dir)
    pid_file = (pg.pgdata / "postmaster.pid").read_text()
    pg.stop()
    assert not (pg.pgdata / "postmaster.pid").exists()
    return pid_file


def test_a_stale_pid_file_naming_another_live_process_is_recovered(data_dir: Path) -> None:
    pid_file = stopped_cluster(data_dir)
    # As after a kill -9 and a reboot: the file stays, and its pid is now some other program's.
    other = subprocess.Popen(["sleep", "120"])
    try:
        lines = pid_file.splitlines()
        (data_dir / "pg" / "postmaster.pid").write_text("\n".join([str(other.pid), *lines[1:]]) + "\n")
        pg = start_postgres(data_dir)
        try:
            assert pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'govperf'").strip() == "1"
        finally:
            pg.stop()
        assert other.poll() is None  # the other program was left alone
    finally:
        other.kill()
        other.wait()


def test_a_damaged_data_folder_is_named_with_what_to_do(data_dir: Path) -> None:
    stopped_cluster(data_dir)
    pgdata = data_dir / "pg"
    (pgdata / "global" / "pg_control").write_bytes(b"\x00garbage" * 1024)
    with pytest.raises(EmbeddedStartError) as raised:
        start_postgres(data_dir)
    assert str(pgdata) in str(raised.value) and "move it away" in str(raised.value)

    # The operator's view: one clear message, exit 1, no traceback.
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "migrate", "--data-dir", str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"could not start from its data folder {pgdata}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_folder_that_is_not_a_data_folder_is_refused_untouched(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    pgdata.mkdir()
    (pgdata / "notes.txt").write_text("someone's files")
    with pytest.raises(EmbeddedStartError, match="no PG_VERSION"):
        start_postgres(data_dir)
    assert (pgdata / "notes.txt").read_text() == "someone's files"
