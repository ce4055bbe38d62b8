"""In-process cache of published, immutable content (a published framework, a published report).

Only content that can no longer change belongs here; the caller still checks the caller's role
and scope on every request, so the cache only saves the database round trip, never a check.
Entries live at most ``ttl_seconds`` (a state change made by another replica, such as retiring a
version, is seen within that time; the replica that makes it drops the entry at once) and at most
``max_entries`` are kept (oldest first out).

A read that started before a ``discard`` must not put back what it read: take ``version()`` before
reading and pass it to ``put``; a discard in between makes the put a no-op. The writer discards
before and again after its commit, so a read of the old state can never outlive the change here.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ImmutableCache(Generic[V]):
    def __init__(self, *, ttl_seconds: float, max_entries: int = 1000) -> None:
        self.ttl_seconds, self.max_entries = ttl_seconds, max_entries
        self._entries: OrderedDict[Hashable, tuple[V, float]] = OrderedDict()
        self._discards = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._entries[key]
            return None
        return entry[0]

    def version(self) -> int:
        """Changes with every discard (see ``put``)."""
        return self._discards

    def put(self, key: Hashable, value: V, *, seen: int | None = None) -> None:
        """Keep ``value``, unless something was discarded since ``seen = version()`` was taken."""
        if self.ttl_seconds <= 0 or self.max_entries <= 0 or (seen is not None and seen != self._discards):
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        self._entries[key] = (value, time.monotonic() + self.ttl_seconds)

    def discard(self, key: Hashable) -> None:
        self._discards += 1
        self._entries.pop(key, None)
