"""The gateway's HTTP protocol (``services.gateway.server``) writes a response's head together
with its body: what a client's socket receives, write by write, from uvicorn's own protocol with
a real ASGI app (only the socket is replaced by one that keeps each write)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from services.gateway.server import HeaderTimeoutProtocol


class Socket(asyncio.Transport):
    """A connection that keeps every write: each is one send() on a real socket."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    body = b'{"receipt": "r"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def exchange(request: bytes, *, then: bytes = b"") -> list[bytes]:
    config = Config(app=answer, lifespan="off")
    config.load()
    socket = Socket()
    protocol = HeaderTimeoutProtocol(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(socket)
    protocol.data_received(request)
    for _ in range(50):
        await asyncio.sleep(0)
    if then:
        protocol.data_received(then)
        for _ in range(50):
            await asyncio.sleep(0)
    protocol.connection_lost(None)
    return socket.writes


async def test_a_response_is_one_write_of_head_and_body() -> None:
    writes = await exchange(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    assert len(writes) == 1, writes
    assert writes[0].startswith(b"HTTP/1.1 201 Created\r\n") and writes[0].endswith(b'\r\n\r\n{"receipt": "r"}')


async def test_a_head_answer_without_body_bytes_still_leaves() -> None:
    writes = await exchange(b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 201") and writes[0].endswith(b"\r\n\r\n"), writes


async def test_an_interim_100_continue_is_not_held_back() -> None:
    writes = await exchange(
        b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", then=b"{}"
    )
    assert writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"  # written before the body was sent
    assert len(writes) == 2 and writes[1].startswith(b"HTTP/1.1 201"), writes
