"""ensure_stream on real NATS: an operator's stream is left exactly as it is (limits, storage),
a missing one is created with explicit age and size limits."""

import tempfile
import uuid
from pathlib import Path

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from shared.embedded import start_nats
from shared.messaging.nats import DEFAULT_STREAM_MAX_AGE_SECONDS, DEFAULT_STREAM_MAX_BYTES, ensure_stream

DAY = 24 * 3600.0


@pytest.fixture
async def js(infra):
    nc = await nats.connect(infra.nats_url)
    yield nc.jetstream()
    await nc.close()


async def test_an_operators_stream_keeps_its_limits(js):
    name = f"OPS_{uuid.uuid4().hex[:8]}"
    subjects = [f"{name.lower()}.>"]
    # Small on purpose: JetStream reserves max_bytes against the disk, and CI disks are small.
    operators_bytes = 256 * 1024**2
    await js.add_stream(StreamConfig(name=name, subjects=subjects, max_age=7 * DAY, max_bytes=operators_bytes))
    try:
        await ensure_stream(js, name)
        config = (await js.stream_info(name)).config
        assert config.max_age == 7 * DAY and config.max_bytes == operators_bytes and config.subjects == subjects
    finally:
        await js.delete_stream(name)


async def test_a_memory_stream_is_accepted_as_it_is(js):
    name = f"MEM_{uuid.uuid4().hex[:8]}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.MEMORY))
    try:
        await ensure_stream(js, name)  # used to fail: the storage type of a stream cannot change
        assert (await js.stream_info(name)).config.storage == StorageType.MEMORY
    finally:
        await js.delete_stream(name)


async def test_a_missing_stream_is_created_with_explicit_limits():
    server = start_nats(Path(tempfile.mkdtemp(prefix="gps-", dir="/tmp")))
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await ensure_stream(js, "GOVPERF")
        config = (await js.stream_info("GOVPERF")).config
        await nc.close()
    finally:
        server.stop()
    assert config.max_age == DEFAULT_STREAM_MAX_AGE_SECONDS and config.max_bytes == DEFAULT_STREAM_MAX_BYTES
    assert config.subjects == ["govperf.>"] and config.duplicate_window == 120.0
