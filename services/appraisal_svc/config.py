"""appraisal_svc settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from shared.config import BaseServiceSettings


class Settings(BaseServiceSettings):
    service_name: str = "appraisal"
    schema_name: str = "appraisal"
    # Bulk submissions carry up to 100,000 rows (a CSV of that size is ~6 MB, JSON ~15 MB).
    max_body_bytes: int = Field(default=24 * 1024 * 1024, ge=1024)

    # Evidence files: a local folder by default; in production a mounted volume or bucket path.
    evidence_dir: Path = Path(".govperf/evidence")
    evidence_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    # The head of the audit chain goes out as appraisal.audit.anchored this often while it grows.
    audit_anchor_seconds: float = Field(default=60.0, gt=0, le=60.0)
    run_jobs: bool = True
    # A scoring job whose worker has not beaten for this long is reclaimed by another worker.
    job_stale_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Anomaly rules: relative change against the object's own history and against the
    # authoritative value that count as suspicious, and the robust-z cut-off.
    history_tolerance: float = Field(default=0.5, gt=0, le=100)
    authoritative_tolerance: float = Field(default=0.05, ge=0, le=100)
    robust_z_threshold: float = Field(default=3.5, gt=0, le=100)
    robust_z_min_peers: int = Field(default=5, ge=3, le=1000)


@lru_cache
def get_settings() -> Settings:
    return Settings()
