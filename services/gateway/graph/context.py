"""What every resolver gets: the verified caller and the request's own loaders."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeAlias

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.fastapi import BaseContext

from services.gateway.graph.errors import UNAUTHENTICATED, GraphError
from services.gateway.graph.indicator_api import IndicatorApi
from services.gateway.graph.loaders import Loaders
from shared.auth.principal import Principal


class GraphContext(BaseContext):
    def __init__(
        self,
        *,
        principal: Principal | None,
        indicator_api: IndicatorApi,
        loaders: Loaders,
        identity_session: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    ) -> None:
        super().__init__()
        self._principal = principal
        self.indicator_api = indicator_api
        self.loaders = loaders
        # The gateway's own schema (users) is read directly, not over HTTP.
        self.identity_session = identity_session

    @property
    def principal(self) -> Principal:
        # Only the GraphiQL page is served without a principal, and it runs no resolver.
        if self._principal is None:
            raise GraphError(UNAUTHENTICATED, "Authentication required.")
        return self._principal


GraphInfo: TypeAlias = strawberry.Info[GraphContext, None]
