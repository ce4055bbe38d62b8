"""The content-addressed evidence store on a real folder."""

import asyncio
import hashlib

import pytest

from shared.evidence import EvidenceNotFound, EvidenceStore


async def test_content_is_named_by_its_hash_and_read_back(tmp_path):
    store = EvidenceStore(tmp_path)
    stored = await store.put(b"rectification report")
    assert stored.sha256 == hashlib.sha256(b"rectification report").hexdigest()
    assert stored.size == len(b"rectification report")
    assert await store.read(stored.sha256) == b"rectification report"
    assert await store.missing([stored.sha256, "0" * 64]) == ["0" * 64]


async def test_same_content_stored_concurrently_is_one_complete_file(tmp_path):
    store = EvidenceStore(tmp_path)
    data = b"x" * 200_000
    results = await asyncio.gather(*(store.put(data) for _ in range(8)))
    assert len({r.sha256 for r in results}) == 1
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == data  # no leftover temporary files


async def test_names_that_are_not_hashes_are_refused(tmp_path):
    store = EvidenceStore(tmp_path)
    with pytest.raises(ValueError):
        await store.read("../../etc/passwd")
    with pytest.raises(EvidenceNotFound):
        await store.read("a" * 64)
