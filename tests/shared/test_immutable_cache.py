"""The in-process cache of published content: bounded, timed, and never refilled by a read that
overlapped a discard (a retirement between a read and its put must win)."""

from __future__ import annotations

import time

from shared.cache import ImmutableCache


def test_a_read_that_overlapped_a_discard_does_not_put_back_the_old_value() -> None:
    cache: ImmutableCache[str] = ImmutableCache(ttl_seconds=60)
    seen = cache.version()  # a GET starts and reads the row while it is still published
    cache.discard("f1")  # meanwhile the framework is retired (and discarded after commit)
    cache.put("f1", "published", seen=seen)
    assert cache.get("f1") is None
    fresh = cache.version()  # the next GET reads the retired row... and a published one may be cached
    cache.put("f2", "published", seen=fresh)
    assert cache.get("f2") == "published"


def test_entries_expire_and_the_cache_is_bounded() -> None:
    cache: ImmutableCache[int] = ImmutableCache(ttl_seconds=0.05, max_entries=3)
    for n in range(5):
        cache.put(n, n)
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) == 4
    time.sleep(0.06)
    assert cache.get(4) is None


def test_a_zero_ttl_turns_it_off() -> None:
    cache: ImmutableCache[int] = ImmutableCache(ttl_seconds=0)
    cache.put("k", 1)
    assert cache.get("k") is None
