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
from collections.abc import Callable
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
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous and self.cycle is not None:
            held = HeadWithBody(self.cycle.transport)
            self.cycle.transport = held  # type: ignore[assignment]
            self.cycle.on_response = held.flushing(self.cycle.on_response)

    def head_overdue(self, now: float) -> bool:
        return self._head_began is not None and now - self._head_began > self._head_seconds

    def time_out_head(self) -> None:
        self._head_began = None
        if not self.transport.is_closing():
            self.transport.write(TIMED_OUT)
            self.transport.close()


class HeadWithBody:
    """A request's view of its connection that holds the response head (status line and headers,
    one ``write`` from uvicorn) back until the first body bytes, and writes both at once: one
    system call and one packet per small response instead of two (the pair was a seventh of the
    gateway's CPU on the intake path). A 1xx interim response goes out at once (the client waits
    for it before sending its body); the head is flushed too when the response completes without
    body bytes (HEAD) or the connection closes. Everything else is the connection's own."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + bytes(data))
        elif bytes(data[:10]).startswith(b"HTTP/1.1 ") and data[9:10] != b"1":
            self._head = bytes(data)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def flushing(self, on_response: Callable[[], None]) -> Callable[[], None]:
        def flush_then_respond() -> None:
            self.flush()
            on_response()

        return flush_then_respond

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


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
