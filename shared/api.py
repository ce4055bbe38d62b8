"""Request pieces every service's routes share: optimistic concurrency and idempotency headers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from shared.errors import PreconditionFailed

IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=40)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def expected_version(if_match: str | None, body_version: int | None = None) -> int | None:
    """The version the client last saw: a body ``version`` field, or ``If-Match: "7"`` -> 7
    (a row's lock_version is its ETag)."""
    if body_version is not None:
        return body_version
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionFailed('If-Match must be an ETag from this API, e.g. "3".')
    return int(value)
