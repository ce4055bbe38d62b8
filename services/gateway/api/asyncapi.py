"""``/asyncapi.json``: the AsyncAPI 3.0 document of every event (contracts/asyncapi.json, generated
from the payload models by ``govperf asyncapi`` and checked by a test)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shared.asyncapi import DOCUMENT_PATH

router = APIRouter(include_in_schema=False)

ASYNCAPI_URL = "/asyncapi.json"


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return document


@router.get(ASYNCAPI_URL)
async def asyncapi() -> JSONResponse:
    """The event contract for integrators (public, like the OpenAPI document)."""
    return JSONResponse(_document(), headers={"Cache-Control": "public, max-age=300"})
