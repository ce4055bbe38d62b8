"""The yardstick of ``bench requests``: a bare FastAPI app answering one small JSON document."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Hello(BaseModel):
    message: str


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello", response_model=Hello)
    async def hello() -> Hello:
        return Hello(message="hello")

    return app
