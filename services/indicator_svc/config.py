"""indicator_svc settings."""

from __future__ import annotations

from functools import lru_cache

from shared.config import BaseServiceSettings


class Settings(BaseServiceSettings):
    service_name: str = "indicator"
    schema_name: str = "indicator"


@lru_cache
def get_settings() -> Settings:
    return Settings()
