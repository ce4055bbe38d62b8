"""Signing keys: the gateway verifies its own tokens with the keys it publishes in its JWKS."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from shared.auth.jwt import KeySet


async def dev_public_keys(app: FastAPI) -> list[dict[str, Any]]:
    """In development the local dev key (``govperf token``) is trusted too."""
    settings = app.state.settings
    if settings.env == "production" or settings.jwks_file is None or not settings.jwks_file.exists():
        return []
    keys: list[dict[str, Any]] = json.loads(settings.jwks_file.read_text())["keys"]
    return keys


def gateway_key_set(app: FastAPI) -> KeySet:
    async def load() -> list[dict[str, Any]]:
        return await dev_public_keys(app)

    return KeySet(loader=load, cache_seconds=5)
