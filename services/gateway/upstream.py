"""How the gateway reaches the services: one keep-alive pool per service, used by REST routing,
the GraphQL DataLoaders and the OpenAPI aggregation alike.

The transport is aiohttp: under load it costs a third of httpx's CPU per proxied request (httpx's
pool checks every idle connection twice per request and runs each body through anyio task groups).
Answers with a Content-Length up to ``buffer_bytes`` are read whole and sent on as one body; larger
ones and those of unknown length are streamed through chunk by chunk, so memory stays bounded.
``HttpxTransport`` serves an httpx client instead (tests mount in-process ASGI apps with it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import httpx
import yarl
from fastapi import FastAPI
from prometheus_client import Counter

from shared.errors import NotFound

UPSTREAM_REQUESTS = Counter("govperf_gateway_upstream_requests_total", "Requests sent to services", ["service"])
BUFFER_BYTES = 1024 * 1024
STREAM_CHUNK = 64 * 1024

Body = bytes | AsyncIterable[bytes] | None


class UpstreamFailure(Exception):
    """No usable answer from a service; the message is for logs only."""


class UpstreamUnreachable(UpstreamFailure):
    """Refused, unresolvable, or no connection within the connect timeout."""


class UpstreamTimedOut(UpstreamFailure):
    """Connected, but no answer within the service's timeout."""


class UpstreamBroken(UpstreamFailure):
    """The connection broke or the answer was not HTTP."""


async def _nothing() -> None:
    return None


@dataclass
class UpstreamAnswer:
    """A service's answer: ``body`` when it was read whole, else ``chunks`` (then ``release`` must
    be awaited once they are consumed or abandoned)."""

    status: int
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes | None = None
    chunks: AsyncIterator[bytes] | None = None
    release: Callable[[], Awaitable[None]] = field(default=_nothing)

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        return next((v.decode("latin-1") for n, v in self.raw_headers if n.lower() == wanted), None)

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not)."""
        if self.body is None:
            raise ValueError("the answer was streamed, not buffered")
        return json.loads(self.body)


class Transport(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: list[tuple[str, str]],
        body: Body,
        timeout: float,
        buffer_bytes: int,
    ) -> UpstreamAnswer: ...

    async def close(self) -> None: ...


class AiohttpTransport:
    def __init__(self, *, connect_timeout: float, max_connections: int) -> None:
        self._connect_timeout, self._max_connections = connect_timeout, max_connections
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, url: str) -> aiohttp.ClientSession:
        # One pool per service (scheme://host:port): a slow service cannot take another's connections.
        origin = url.split("/", 3)[:3]
        key = "/".join(origin)
        session = self._sessions.get(key)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30, ttl_dns_cache=60)
            session = self._sessions[key] = aiohttp.ClientSession(
                connector=connector,
                # Bytes pass through as sent: Content-Encoding and Content-Length stay true.
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return session

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: list[tuple[str, str]],
        body: Body,
        timeout: float,
        buffer_bytes: int,
    ) -> UpstreamAnswer:
        limits = aiohttp.ClientTimeout(total=None, connect=self._connect_timeout, sock_read=timeout)
        try:
            response = await self._session(url).request(
                method,
                yarl_url(url),
                headers=headers,
                data=body,
                timeout=limits,
                allow_redirects=False,
                compress=None,
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamUnreachable(repr(exc)) from None
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimedOut(repr(exc)) from None
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnreachable(repr(exc)) from None
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(repr(exc)) from None
        raw_headers = [(bytes(n), bytes(v)) for n, v in response.raw_headers]
        length = response.content_length
        if response.status in (204, 304) or method == "HEAD":
            length = 0  # no body by definition, whatever the headers say
        if length is not None and length <= buffer_bytes:
            try:
                data = await response.read()
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                response.release()
                raise UpstreamTimedOut(repr(exc)) from None
            except aiohttp.ClientError as exc:
                response.release()
                raise UpstreamBroken(repr(exc)) from None
            return UpstreamAnswer(response.status, raw_headers, body=data)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.content.iter_chunked(STREAM_CHUNK):
                    yield chunk
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise UpstreamBroken(repr(exc)) from None

        async def release() -> None:
            response.release()

        return UpstreamAnswer(response.status, raw_headers, chunks=chunks(), release=release)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))


def yarl_url(url: str) -> yarl.URL:
    """The URL exactly as given: percent-encoding is already right and must not be redone."""
    return yarl.URL(url, encoded=True)


class HttpxTransport:
    """The same contract over an httpx client (in-process ASGI apps in tests, or any mounts)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: list[tuple[str, str]],
        body: Body,
        timeout: float,
        buffer_bytes: int,
    ) -> UpstreamAnswer:
        request = self.client.build_request(method, url, headers=headers, content=body, timeout=timeout)
        try:
            response = await self.client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise UpstreamUnreachable(repr(exc)) from None
        except httpx.TimeoutException as exc:
            raise UpstreamTimedOut(repr(exc)) from None
        except httpx.HTTPError as exc:
            raise UpstreamBroken(repr(exc)) from None
        raw_headers = list(response.headers.raw)
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= buffer_bytes:
            try:
                data = b"".join([chunk async for chunk in response.aiter_raw()])
            except httpx.StreamConsumed:
                data = response.content  # built in memory (a mock), nothing left on the wire
            except httpx.HTTPError as exc:
                raise UpstreamBroken(repr(exc)) from None
            finally:
                await response.aclose()
            return UpstreamAnswer(response.status_code, raw_headers, body=data)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:
                raise UpstreamBroken(repr(exc)) from None

        return UpstreamAnswer(response.status_code, raw_headers, chunks=chunks(), release=response.aclose)

    async def close(self) -> None:
        await self.client.aclose()


class Upstreams:
    def __init__(
        self,
        base_urls: dict[str, str],
        transport: Transport,
        *,
        timeout: float,
        timeouts: dict[str, float] | None = None,
        buffer_bytes: int = BUFFER_BYTES,
    ) -> None:
        self.base_urls, self.transport = base_urls, transport
        self.default_timeout, self.timeouts, self.buffer_bytes = timeout, timeouts or {}, buffer_bytes

    def timeout(self, service: str) -> float:
        """The service's own timeout if it has one, else the default."""
        return self.timeouts.get(service, self.default_timeout)

    def url(self, service: str, path: str) -> str:
        """``url("indicator", "/api/v1/frameworks")``; an unknown service is a 404 to the caller."""
        base = self.base_urls.get(service)
        if base is None:
            raise NotFound(f"No service named {service!r}.")
        return base.rstrip("/") + path

    def count(self, service: str) -> None:
        UPSTREAM_REQUESTS.labels(service).inc()

    async def send(
        self,
        service: str,
        method: str,
        path_and_query: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: Body = None,
        timeout: float | None = None,
    ) -> UpstreamAnswer:
        """One request to ``service`` (counted); UpstreamFailure when there is no usable answer."""
        url = self.url(service, path_and_query)
        self.count(service)
        return await self.transport.send(
            method,
            url,
            headers=headers or [],
            body=body,
            timeout=timeout if timeout is not None else self.timeout(service),
            buffer_bytes=self.buffer_bytes,
        )

    async def get(
        self,
        service: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> UpstreamAnswer:
        """A GET whose answer is read whole, however long (JSON for the graph and the docs)."""
        query = str(httpx.QueryParams(params or {}))
        answer = await self.send(
            service,
            "GET",
            path + (f"?{query}" if query else ""),
            headers=list((headers or {}).items()),
            timeout=timeout,
        )
        if answer.chunks is not None:
            try:
                answer.body = b"".join([chunk async for chunk in answer.chunks])
            finally:
                await answer.release()
            answer.chunks = None
        return answer


def get_upstreams(app: FastAPI) -> Upstreams:
    upstreams: Upstreams = app.state.upstreams
    return upstreams


async def open_upstreams(app: FastAPI) -> None:
    settings = app.state.settings
    transport = AiohttpTransport(
        connect_timeout=settings.upstream_connect_timeout_seconds,
        max_connections=settings.upstream_max_connections,
    )
    app.state.upstreams = Upstreams(
        settings.upstreams,
        transport,
        timeout=settings.upstream_timeout_seconds,
        timeouts=dict(settings.upstream_timeouts),
    )


async def close_upstreams(app: FastAPI) -> None:
    await app.state.upstreams.transport.close()
