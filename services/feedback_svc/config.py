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


@lru_cache
def get_settings() -> Settings:
    return Settings()
