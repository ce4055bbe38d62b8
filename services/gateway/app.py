"""gateway: the only public door (identity, tokens, REST routing, GraphQL)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from services.gateway.api import admin, asyncapi, auth, docs, notifications, proxy, public
from services.gateway.config import Settings, get_settings
from services.gateway.consumers import HANDLERS
from services.gateway.db import TABLES
from services.gateway.graph import router as graph
from services.gateway.identity.service import start_identity
from services.gateway.keys.service import gateway_key_set, start_keys, stop_keys
from services.gateway.ratelimit import RateLimitMiddleware
from services.gateway.upstream import close_upstreams, open_upstreams
from shared.service_app import create_service_app

DESCRIPTION = """The govperf platform API: indicator frameworks, appraisals, satisfaction surveys and the
improvement loop of provincial and local governments, behind one gateway.

Get a token at `/oauth/token` (password grant for people, client credentials for department systems)
and send it as `Authorization: Bearer <token>`. Errors are `application/problem+json` (RFC 9457) with
`errors[]` naming each offending field. Lists page with `?limit=` and `?cursor=` (`{items, next_cursor}`);
creates accept `Idempotency-Key`; updates require `If-Match` with the ETag of your last read."""
TAGS = [
    {"name": "auth", "description": "OAuth2 tokens, keys, discovery and the caller's own account."},
    {"name": "admin", "description": "Users, API clients, the audit log and signing keys."},
    {"name": "notifications", "description": "What needs attention in your scope, from the services' events."},
    {"name": "graphql", "description": "The one GraphQL graph over every service."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # The proxy's catch-all route goes last so the gateway's own routes win.
    routers = [
        auth.router,
        admin.router,
        notifications.router,
        graph.build_router(settings),
        docs.router,
        asyncapi.router,
        proxy.router,
        public.router,
    ]
    return create_service_app(
        settings,
        title="govperf gateway",
        routers=routers,
        tables=TABLES,
        handlers=HANDLERS,
        key_set=gateway_key_set,
        on_startup=[open_upstreams, start_keys, start_identity],
        on_shutdown=[stop_keys, close_upstreams],
        # /openapi.json and /docs are the platform's aggregated ones (api/docs.py).
        openapi_url=docs.GATEWAY_OPENAPI_URL,
        docs_url=None,
        edge_middleware=edge_middleware(settings),
        description=DESCRIPTION,
        tags=TAGS,
        default_problems=[429],  # the rate limiter answers before any route
    )


def edge_middleware(settings: Settings) -> list[Middleware]:
    """Request context (outermost, from shared) -> CORS -> rate limit -> body cap -> routes: a 429
    carries the request id and CORS headers, and a refused request costs no body reading."""
    edge = [
        Middleware(
            RateLimitMiddleware,
            per_minute=settings.rate_limit_per_minute,
            burst=settings.rate_limit_burst,
            token_per_minute=settings.token_rate_limit_per_minute,
        )
    ]
    if settings.cors_origins:
        edge.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=False,  # bearer, no cookies
                allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "If-Match",
                    "Idempotency-Key",
                    "X-Request-ID",
                    "traceparent",
                ],
                expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID", "Content-Disposition"],
                max_age=600,
            ),
        )
    return edge
