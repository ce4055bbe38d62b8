"""NATS connection and the one JetStream stream every service publishes to."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

log = logging.getLogger("govperf.nats")

STREAM_SUBJECTS = ["govperf.>"]


async def connect(url: str, *, name: str) -> Client:
    """Reconnect forever: a NATS outage must delay events, never stop the service."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    return await nats.connect(
        url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=5, error_cb=on_error
    )


async def ensure_stream(js: JetStreamContext, name: str) -> None:
    config = StreamConfig(name=name, subjects=STREAM_SUBJECTS, duplicate_window=120.0)
    try:
        await js.add_stream(config)
    except BadRequestError:
        # Exists with another config (e.g. created by an operator): keep it, make sure it covers us.
        await js.update_stream(config)
