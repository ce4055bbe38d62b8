"""feedback_svc settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from shared.config import BaseServiceSettings


class Settings(BaseServiceSettings):
    service_name: str = "feedback"
    schema_name: str = "feedback"

    # Where uploaded evidence lives (content-addressed; a mounted volume or bucket path in production).
    evidence_dir: Path = Path(".govperf/evidence/feedback")
    max_evidence_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # How often this replica runs the overdue sweep; 0 leaves it to an external runner.
    overdue_sweep_seconds: float = Field(default=300.0, ge=0)
    # appraisal_svc, where the objects of results published by reference are fetched (its public route).
    appraisal_url: str = Field(default="http://127.0.0.1:8002", min_length=1, max_length=500)
    appraisal_timeout_seconds: float = Field(default=30.0, gt=0)
    max_results_objects: int = Field(default=200_000, ge=1)


@lru_cache
def get_settings() -> Settings:
    return Settings()
