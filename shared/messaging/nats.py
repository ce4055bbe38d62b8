"""NATS connection and the one JetStream stream every service publishes to."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger("govperf.nats")

STREAM_SUBJECTS = ["govperf.>"]
DEFAULT_STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600.0
DEFAULT_STREAM_MAX_BYTES = 4 * 1024**3


async def connect(url: str, *, name: str) -> Client:
    """Reconnect forever: a NATS outage must delay events, never stop the service."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    return await nats.connect(
        url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=5, error_cb=on_error
    )


def default_stream_config(
    name: str,
    *,
    max_age_seconds: float = DEFAULT_STREAM_MAX_AGE_SECONDS,
    max_bytes: int = DEFAULT_STREAM_MAX_BYTES,
) -> StreamConfig:
    """The stream we create when none exists: explicit age and size limits, oldest dropped first."""
    return StreamConfig(
        name=name,
        subjects=STREAM_SUBJECTS,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age_seconds,
        max_bytes=max_bytes,
        duplicate_window=120.0,
    )


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    *,
    max_age_seconds: float = DEFAULT_STREAM_MAX_AGE_SECONDS,
    max_bytes: int = DEFAULT_STREAM_MAX_BYTES,
) -> None:
    """Create the stream when it is missing; an existing one belongs to its operator and is left
    exactly as it is (what differs from our defaults is logged, once per start)."""
    wanted = default_stream_config(name, max_age_seconds=max_age_seconds, max_bytes=max_bytes)
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("created stream %s (max_age %ss, max_bytes %s)", name, max_age_seconds, max_bytes)
        return
    have = info.config
    differences = {
        field: (getattr(have, field), getattr(wanted, field))
        for field in ("subjects", "storage", "retention", "discard", "max_age", "max_bytes", "duplicate_window")
        if getattr(have, field) != getattr(wanted, field)
    }
    if differences:
        log.info("stream %s kept as configured; differs from the defaults in %s", name, differences)
    if not any(subject in {"govperf.>", ">"} for subject in have.subjects or []):
        log.warning("stream %s does not list govperf.> among its subjects %s", name, have.subjects)
