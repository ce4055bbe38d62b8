"""What every service's ``create_app()`` shares: lifespan (engine, NATS, relay, consumers),
middleware, error handlers, health endpoints and the per-request session."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.middleware import Middleware

from shared.auth.jwt import KeySet, TokenVerifier
from shared.config import BaseServiceSettings
from shared.db import committing, create_engine, make_sessionmaker
from shared.errors import install_error_handlers
from shared.messaging.consumer import ConsumerRunner, Handler, subscriptions
from shared.messaging.dead_letters import dead_letter_router
from shared.messaging.nats import connect, ensure_stream
from shared.messaging.outbox import OutboxRelay, use_server_max_payload
from shared.messaging.retention import RetentionPolicy, retention_task
from shared.messaging.tables import MessagingTables
from shared.middleware import BodySizeLimitMiddleware, FastRoute, FastRoutes, RequestContextMiddleware
from shared.observability import configure_logging, health_router
from shared.openapi import install_contract
from shared.periodic import PeriodicTask, run_forever
from shared.reads import open_read_pool, pool_reader
from shared.supervision import Supervisor

log = logging.getLogger("govperf.service")
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def default_key_set(settings: BaseServiceSettings) -> KeySet:
    if settings.jwks_url:
        return KeySet(url=settings.jwks_url, cache_seconds=settings.jwks_cache_seconds)
    if settings.jwks_file:
        return KeySet(path=settings.jwks_file, cache_seconds=settings.jwks_cache_seconds)
    raise RuntimeError("set GOVPERF_JWKS_URL (the gateway's JWKS) or GOVPERF_JWKS_FILE")


Hook = Callable[[FastAPI], Awaitable[None]]


def create_service_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    routers: Sequence[APIRouter],
    tables: MessagingTables,
    handlers: Mapping[str, Handler] | None = None,
    key_set: Callable[[FastAPI], KeySet] | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    openapi_url: str = "/openapi.json",
    docs_url: str | None = "/docs",
    edge_middleware: Sequence[Middleware] = (),
    periodic_tasks: Sequence[PeriodicTask] = (),
    description: str = "",
    tags: Sequence[Mapping[str, str]] = (),
    default_problems: Sequence[int] = (),
    fast_routes: Sequence[FastRoute] = (),
) -> FastAPI:
    """``key_set`` replaces the JWKS source (the gateway verifies with its own keys);
    ``on_startup`` hooks run after the engine and NATS exist, ``on_shutdown`` before they close;
    ``openapi_url``/``docs_url`` move FastAPI's own documents (the gateway serves aggregated ones),
    and docs are never served in production; ``edge_middleware`` (outermost first) runs inside the
    request context and before the body cap (the gateway's CORS and rate limits); ``periodic_tasks``
    run next to the built-in retention, one replica at a time (``shared.periodic``). ``description``
    and ``tags`` (name and description of each aggregate) go into the OpenAPI document, whose
    conventions come from ``shared.openapi``; ``default_problems`` are error statuses every route
    can answer beyond the usual ones (the gateway's 429); ``fast_routes`` are raw ASGI handlers of hot
    routes, run behind the same middleware but without the router (``shared.middleware.FastRoutes``)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop_logging = configure_logging(settings.log_level, prefix=settings.log_prefix)
        engine = create_engine(settings.schema_database_url(), pool_size=settings.db_pool_size)
        read_pool = await open_read_pool(engine, max_size=settings.db_pool_size)
        app.state.reader = pool_reader(read_pool)
        nc = await connect(settings.nats_url, name=settings.service_name)
        js = nc.jetstream()
        use_server_max_payload(nc.max_payload)
        await ensure_stream(
            js,
            settings.stream_name,
            max_age_seconds=settings.stream_max_age_seconds,
            max_bytes=settings.stream_max_bytes,
        )
        app.state.engine, app.state.sessionmaker = engine, make_sessionmaker(engine)
        app.state.nc, app.state.js = nc, js
        keys = key_set(app) if key_set is not None else default_key_set(settings)
        app.state.verifier = TokenVerifier(
            keys,
            algorithm=settings.jwt_algorithm,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            cache_seconds=settings.token_cache_seconds,
        )
        relay = OutboxRelay(
            engine,
            tables,
            js,
            service=settings.service_name,
            batch_size=settings.relay_batch_size,
            max_batch_bytes=settings.relay_max_batch_bytes,
            max_attempts=settings.relay_max_attempts,
        )
        app.state.relay = relay
        app.state.refresh_metrics = relay.refresh_metrics
        runner = ConsumerRunner(
            js,
            app.state.sessionmaker,
            tables,
            service=settings.service_name,
            stream=settings.stream_name,
            max_deliver=settings.consumer_max_deliver,
            ack_wait=settings.consumer_ack_wait_seconds,
        )
        app.state.consumers = runner
        subs = subscriptions(handlers or {}) if settings.run_consumers else []
        app.state.expected_consumers = {runner.durable_name(sub) for sub in subs}
        stopping = False
        supervisor = Supervisor()
        if settings.run_relay:
            supervisor.start("outbox-relay", relay.run)
        for sub in subs:
            supervisor.start(f"consumer-{sub.name}", functools.partial(runner.run, sub))
        if subs:
            supervisor.start("dead-letter-replay", functools.partial(runner.run_replays, subs))
        if settings.run_periodic_tasks:
            policy = RetentionPolicy(
                outbox_days=settings.retention_outbox_days,
                inbox_days=settings.retention_inbox_days,
                idempotency_days=settings.retention_idempotency_days,
                dead_letter_days=settings.retention_dead_letter_days,
            )
            for task in (
                retention_task(tables, policy, interval_seconds=settings.retention_interval_seconds),
                *periodic_tasks,
            ):
                supervisor.start(
                    f"periodic-{task.name}", functools.partial(run_forever, engine, task, lambda: stopping)
                )
        for hook in on_startup:
            await hook(app)
        # Start-up objects (modules, routes, models) never die: keep them out of every future
        # collection, which otherwise walks them all and makes the p99.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for hook in on_shutdown:
                await hook(app)
            # Drain: the relay finishes its round (publish and mark), consumers the message in hand.
            stopping = True
            relay.stop()
            runner.stop()
            await supervisor.stop(timeout=settings.drain_seconds)
            await nc.drain() if nc.is_connected else await nc.close()
            await read_pool.close()
            await engine.dispose()
            stop_logging()

    app = FastAPI(
        title=title,
        version="1.0.0",
        # The platform's own Prometheus metrics and access log cover each request; FastAPI's native
        # OpenTelemetry would look up its providers on every request (about 3% of the gateway's CPU
        # on the intake path). FASTAPI_OTEL_AUTO_CONFIGURE=true, FastAPI's own switch, turns it on.
        telemetry=None if os.getenv("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true" else NO_TELEMETRY,
        lifespan=lifespan,
        openapi_url=openapi_url,
        docs_url=docs_url if settings.env != "production" else None,
    )
    app.state.settings = settings
    app.state.tables = tables
    install_error_handlers(app)
    install_contract(
        app, description=description, tags=[dict(t) for t in tags] or None, default_problems=default_problems
    )

    async def database_ready() -> None:
        async with app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def nats_ready() -> None:
        if not app.state.nc.is_connected:
            raise ConnectionError("nats disconnected")

    async def relay_running() -> None:
        if settings.run_relay and not app.state.relay.running:
            raise RuntimeError("outbox relay not running")

    async def consumers_running() -> None:
        if missing := app.state.expected_consumers - app.state.consumers.active:
            raise RuntimeError(f"consumers not running: {sorted(missing)}")

    app.include_router(
        health_router(
            {"database": database_ready, "nats": nats_ready, "relay": relay_running, "consumers": consumers_running}
        )
    )
    app.include_router(dead_letter_router(DBSession))
    for router in routers:
        app.include_router(router)
    # add_middleware() wraps what is there, so the innermost goes first. The request id must
    # exist before anything else can answer.
    stack = [
        Middleware(RequestContextMiddleware),
        *edge_middleware,
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
    for middleware in reversed(stack):
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    if fast_routes:
        app.add_middleware(FastRoutes, routes=fast_routes, middleware=stack)
    return app


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed once after the handler returns, rolled back on error."""
    async with request.app.state.sessionmaker() as session, committing(session):
        yield session


# scope="function": commit before the response is sent, so a failed commit is never a 2xx.
DBSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
