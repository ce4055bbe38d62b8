"""``/graphql``: the strawberry router, built per app from its settings (limits, IDE, masking)."""

from __future__ import annotations

from fastapi import Request
from fastapi.routing import APIRoute
from strawberry.fastapi import GraphQLRouter

from services.gateway.config import Settings
from services.gateway.db import read_session
from services.gateway.graph.context import GraphContext
from services.gateway.graph.indicator_api import IndicatorApi
from services.gateway.graph.loaders import build_loaders
from services.gateway.graph.schema import build_schema
from services.gateway.principal import OptionalPrincipal
from services.gateway.upstream import get_upstreams
from shared.errors import Unauthorized
from shared.openapi import TOKEN_REQUIRED

PATH = "/graphql"


def forwarded_headers(request: Request) -> dict[str, str]:
    """The caller's credentials and request id: the services authorize and log the call as theirs."""
    headers = {"Authorization": request.headers.get("authorization", "")}
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        headers["X-Request-ID"] = request_id
    return headers


def build_router(settings: Settings) -> GraphQLRouter[GraphContext, None]:
    development = settings.env == "development"

    async def graph_context(request: Request, principal: OptionalPrincipal) -> GraphContext:
        # A bad token is already refused (401 problem+json) by OptionalPrincipal. A missing one is
        # refused too, except for the GraphiQL page in development: a GET without a query runs nothing.
        ide_page = development and request.method == "GET" and "query" not in request.query_params
        if principal is None and not ide_page:
            raise Unauthorized()
        api = IndicatorApi(get_upstreams(request.app), forwarded_headers=forwarded_headers(request))
        return GraphContext(
            principal=principal,
            indicator_api=api,
            loaders=build_loaders(api),
            identity_session=lambda: read_session(request.app),
        )

    router: GraphQLRouter[GraphContext, None] = GraphQLRouter(
        build_schema(settings),
        path=PATH,
        graphql_ide="graphiql" if development else None,
        # POST only: query text stays out of URLs and access logs.
        allow_queries_via_get=False,
        subscription_protocols=(),
        context_getter=graph_context,
        tags=["graphql"],
    )
    for route in router.routes:
        if isinstance(route, APIRoute):
            # The context refuses anonymous queries itself; say so in the OpenAPI document.
            route.openapi_extra = {**(route.openapi_extra or {}), **TOKEN_REQUIRED}
    return router
