"""Request pieces every service's routes share: optimistic concurrency and idempotency headers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from shared.errors import PreconditionFailed, PreconditionRequired

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=40,
        description='The ETag of your last read, e.g. `"3"`. Required on updates (428 without, 412 when stale), '
        "unless the body carries `version`.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Any unique string; a retry with the same key gets the first answer instead of a second resource.",
    ),
]


def expected_version(if_match: str | None, body_version: int | None = None) -> int | None:
    """The version the client last saw: a body ``version`` field, or ``If-Match: "7"`` -> 7 (a row's
    lock_version is its strong ETag); None when neither is given (``check_version`` answers 428 once
    the caller may see the resource)."""
    if body_version is not None:
        return body_version
    if if_match is None or if_match.strip() in ("", "*"):
        return None
    value = if_match.strip()
    # RFC 9110 13.1.1: If-Match compares strongly, so a weak tag never matches.
    if value.startswith("W/"):
        raise PreconditionFailed("If-Match needs the strong ETag as read, not a weak one.")
    digits = value.removeprefix('"').removesuffix('"')
    if not (value.startswith('"') and value.endswith('"') and digits.isdigit()):
        raise PreconditionFailed('If-Match must be one ETag from this API, e.g. "3".')
    return int(digits)


def check_version(current: int, expected: int | None) -> None:
    """428 when the client named no version (no blind overwrites), 412 unless it is the current one.
    Call it after the resource is loaded and authorized: who may not see it gets 404 or 403 first."""
    if expected is None:
        raise PreconditionRequired(
            'Send If-Match with the ETag of your last read, e.g. If-Match: "3".',
            errors=[{"field": "If-Match", "message": "required", "type": "missing"}],
        )
    if current != expected:
        raise PreconditionFailed(
            f"The resource was changed meanwhile (version {current}, you sent {expected}). Reload and retry.",
            headers={"ETag": f'"{current}"'},
        )
