"""Per-request DataLoaders: every relation in a query is fetched in batches, so the number of
service calls depends on the shape of the query, not on how many objects it returns."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from services.gateway.graph.indicator_api import (
    MAX_FRAMEWORK_IDS_PER_CALL,
    MAX_FRAMEWORKS_PER_INDICATOR_CALL,
    FrameworkRecord,
    IndicatorApi,
    IndicatorRecord,
)


@dataclass(frozen=True)
class Loaders:
    # None: no such framework, or one the caller may not read (a draft out of scope).
    framework_by_id: DataLoader[uuid.UUID, FrameworkRecord | None]
    indicators_by_framework_id: DataLoader[uuid.UUID, list[IndicatorRecord]]

    def remember_frameworks(self, frameworks: list[FrameworkRecord]) -> None:
        """Frameworks already read (a list page) need no second call when referenced again."""
        self.framework_by_id.prime_many({f.id: f for f in frameworks})


def build_loaders(api: IndicatorApi) -> Loaders:
    async def load_frameworks(ids: list[uuid.UUID]) -> list[FrameworkRecord | None]:
        found = {f.id: f for f in await api.frameworks_by_ids(ids)}
        return [found.get(framework_id) for framework_id in ids]

    async def load_indicators(framework_ids: list[uuid.UUID]) -> list[list[IndicatorRecord]]:
        by_framework: dict[uuid.UUID, list[IndicatorRecord]] = defaultdict(list)
        for indicator in await api.indicators_of(framework_ids):
            by_framework[indicator.framework_id].append(indicator)
        return [by_framework.get(framework_id, []) for framework_id in framework_ids]

    # max_batch_size splits a larger batch into the service's per-call caps (dispatched together).
    return Loaders(
        framework_by_id=DataLoader(load_frameworks, max_batch_size=MAX_FRAMEWORK_IDS_PER_CALL),
        indicators_by_framework_id=DataLoader(load_indicators, max_batch_size=MAX_FRAMEWORKS_PER_INDICATOR_CALL),
    )
