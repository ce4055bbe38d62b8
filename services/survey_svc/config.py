"""survey_svc settings."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, model_validator

from shared.config import BaseServiceSettings

# Development and test only: production refuses to start with these (see the validator).
DEV_TOKEN_KEY = "govperf-development-survey-token-key"  # noqa: S105 - refused in production
DEV_DEVICE_SALT = "govperf-development-survey-device-salt"


class Settings(BaseServiceSettings):
    service_name: str = "survey"
    schema_name: str = "survey"

    # Keys of the HMACs that store respondent tokens and device fingerprints (GOVPERF_SURVEY_...).
    # Rotating the token key invalidates tokens not yet used; rotating the salt only weakens
    # duplicate detection across the rotation.
    survey_token_key: SecretStr = SecretStr(DEV_TOKEN_KEY)
    survey_device_salt: SecretStr = SecretStr(DEV_DEVICE_SALT)
    max_tokens_per_batch: int = Field(default=20_000, ge=1, le=100_000)
    # How often recorded responses are sealed into the hash-chained response log.
    seal_interval_seconds: float = Field(default=0.5, gt=0, le=3600)
    # Responses sealed per transaction: small, because sealing is CPU in the event loop intake
    # shares (hashing, rows), and a 20,000-row batch held intake's answers back for tens of ms
    # (measured: intake p99 110 ms with 20,000, 98 with 500, 69 without the sealer). The chain
    # appends by COPY from 200 rows; a commit more per batch costs well under a millisecond.
    seal_batch_size: int = Field(default=200, ge=1, le=20_000)
    run_sealer: bool = True
    # Token responses are spent and inserted set-based by one writer per process (response/intake.py).
    intake_batching: bool = True
    # Connections of the intake writes (the gateway sends up to 4 batches at a time).
    intake_write_connections: int = Field(default=4, ge=1, le=32)
    run_job_worker: bool = True

    @model_validator(mode="after")
    def _production_has_its_own_secrets(self) -> Settings:
        if self.env == "production" and (
            self.survey_token_key.get_secret_value() == DEV_TOKEN_KEY
            or self.survey_device_salt.get_secret_value() == DEV_DEVICE_SALT
        ):
            raise ValueError("set GOVPERF_SURVEY_TOKEN_KEY and GOVPERF_SURVEY_DEVICE_SALT in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
