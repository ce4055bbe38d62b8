"""The gateway's HTTP server protocol: uvicorn's httptools protocol with a bound on the time a
request's head (request line and headers) may take to arrive.

uvicorn bounds the idle time between requests (keep-alive) but not a head that arrives slowly, so a
client trickling header bytes (slowloris) or connecting and sending nothing would hold a connection
for as long as it liked; the ASGI app only sees a request once its head is complete, so the bound
lives here. Run with ``uvicorn --http services.gateway.server:HeaderTimeoutProtocol`` (the gateway's
``ServiceSpec.server_args``). Bodies are bounded by the routes (the intake fast route's 408)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.gateway.config import get_settings

PROBLEM = json.dumps(
    {
        "type": "urn:govperf:problem:request-timeout",
        "title": "Request timeout",
        "status": 408,
        "detail": "The request headers did not arrive in time.",
    }
).encode()
TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
    b"content-length: " + str(len(PROBLEM)).encode() + b"\r\nconnection: close\r\n\r\n" + PROBLEM
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """A connection gets ``header_timeout_seconds`` (gateway setting) from connecting, and each
    further request on it from its first byte, to complete the request's head; else a 408
    problem and the connection is closed. A head only notes when it began: one sweep a second
    over the server's connections finds the overdue ones (a timer per request cost more than
    the rest of this class on the intake path)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_seconds = get_settings().header_timeout_seconds
        self._head_began: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_began = self.loop.time()
        _sweep_soon(self)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_began is None:  # a further request on a kept-alive connection
            self._head_began = self.loop.time()

    def on_headers_complete(self) -> None:
        self._head_began = None
        super().on_headers_complete()

    def head_overdue(self, now: float) -> bool:
        return self._head_began is not None and now - self._head_began > self._head_seconds

    def time_out_head(self) -> None:
        self._head_began = None
        if not self.transport.is_closing():
            self.transport.write(TIMED_OUT)
            self.transport.close()


_sweeping: set[asyncio.AbstractEventLoop] = set()


def _sweep_soon(protocol: HeaderTimeoutProtocol) -> None:
    """Sweep the server's connections (uvicorn's shared set) once a second while there are any."""
    loop = protocol.loop
    if loop in _sweeping:
        return
    _sweeping.add(loop)
    interval = min(1.0, protocol._head_seconds / 4)

    def sweep() -> None:
        now = loop.time()
        for connection in list(protocol.connections):
            if isinstance(connection, HeaderTimeoutProtocol) and connection.head_overdue(now):
                connection.time_out_head()
        if protocol.connections:
            loop.call_later(interval, sweep)
        else:
            _sweeping.discard(loop)

    loop.call_later(interval, sweep)
