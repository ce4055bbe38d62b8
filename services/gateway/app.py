"""gateway: the only public door (identity, tokens, REST routing, GraphQL)."""

from __future__ import annotations

from fastapi import FastAPI

from services.gateway.api import admin, auth, docs, proxy
from services.gateway.config import Settings, get_settings
from services.gateway.db import TABLES
from services.gateway.graph import router as graph
from services.gateway.keys.service import gateway_key_set
from services.gateway.upstream import close_upstreams, open_upstreams
from shared.service_app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # The proxy's catch-all route goes last so the gateway's own routes win.
    routers = [auth.router, admin.router, graph.router, docs.router, proxy.router]
    return create_service_app(settings, title="govperf gateway", routers=routers, tables=TABLES,
                              key_set=gateway_key_set, on_startup=[open_upstreams],
                              on_shutdown=[close_upstreams])
