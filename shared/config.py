"""Settings common to every service (environment prefix ``GOVPERF_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVPERF_", extra="ignore")

    # Each service subclass pins these two.
    service_name: str = "service"
    schema_name: str = "public"

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/govperf"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    nats_url: str = "nats://127.0.0.1:4222"
    stream_name: str = "GOVPERF"

    # JWT verification: the key set comes from the gateway's JWKS URL, or a local
    # file in development; the algorithm is pinned, never read from the token.
    jwt_algorithm: Literal["ES256", "RS256"] = "ES256"
    jwt_issuer: str = "govperf"
    jwt_audience: str = "govperf"
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks_cache_seconds: int = Field(default=300, ge=1)
    # A verified token is trusted this long (never past its exp); 0 verifies every request.
    token_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    # Published (immutable) content kept in process; a retirement elsewhere is seen within this time.
    published_cache_seconds: float = Field(default=10.0, ge=0, le=3600)

    max_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)
    run_relay: bool = True
    run_consumers: bool = True
    run_periodic_tasks: bool = True
    relay_batch_size: int = Field(default=200, ge=1, le=5000)
    # A round reads at most this many bytes of events (and at least one event).
    relay_max_batch_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    # Publishes the server refuses before a row is parked (then see `govperf dead-letters`).
    relay_max_attempts: int = Field(default=10, ge=1, le=1000)
    consumer_max_deliver: int = Field(default=5, ge=1)
    consumer_ack_wait_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    # Shutdown: how long the relay and consumers may take to finish what they hold.
    drain_seconds: float = Field(default=10.0, ge=0.0, le=300.0)
    # The stream a service creates when none exists (an existing one is left as it is).
    stream_max_age_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    stream_max_bytes: int = Field(default=4 * 1024**3, ge=1024**2)
    # Retention (days); keep the inbox longer than the stream's max age.
    retention_outbox_days: float = Field(default=7.0, gt=0)
    retention_inbox_days: float = Field(default=30.0, gt=0)
    retention_idempotency_days: float = Field(default=7.0, gt=0)
    retention_dead_letter_days: float = Field(default=30.0, gt=0)
    retention_interval_seconds: float = Field(default=600.0, ge=1.0)
    log_level: str = "INFO"
    # Who may read /readyz and /metrics in production (development leaves them open): callers from
    # these networks, or any caller sending ``Authorization: Bearer <ops_token>``.
    ops_networks: list[str] = ["127.0.0.0/8", "::1/128"]
    ops_token: SecretStr | None = None
    log_prefix: str = ""  # `govperf up` sets "[<service>] " for the lines its children print

    def schema_database_url(self) -> str:
        """One URL per service may be given as GOVPERF_<SCHEMA>_DATABASE_URL (its own DB role)."""
        import os

        return os.environ.get(f"GOVPERF_{self.schema_name.upper()}_DATABASE_URL", self.database_url)
