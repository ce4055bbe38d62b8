"""In-process cache of published, immutable content (a published framework, a published report).

Only content that can no longer change belongs here; the caller still checks the caller's role
and scope on every request, so the cache only saves the database round trip, never a check.
Entries live at most ``ttl_seconds`` (a state change made by another replica, such as retiring a
version, is seen within that time; the replica that makes it drops the entry at once) and at most
``max_entries`` are kept (oldest first out).
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

    def put(self, key: Hashable, value: V) -> None:
        if self.ttl_seconds <= 0 or self.max_entries <= 0:
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        self._entries[key] = (value, time.monotonic() + self.ttl_seconds)

    def discard(self, key: Hashable) -> None:
        self._entries.pop(key, None)
