"""A bare uvicorn hello-world: the ceiling one Python process reaches on this machine, measured
beside the real path in the same run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/readyz":
        body = b"{}"
    elif scope["method"] == "GET":
        # As the intake route answers a GET: the survey bench does not count these.
        await send({"type": "http.response.start", "status": 405, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    else:
        while (await receive()).get("more_body"):
            pass
        body = b'{"hello": "world"}'
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def create_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    return hello
