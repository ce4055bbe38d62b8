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
    problem and the connection is closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_seconds = get_settings().header_timeout_seconds
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # a further request on a kept-alive connection
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._head_seconds, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(TIMED_OUT)
            self.transport.close()
