"""Request pieces the appraisal routes share."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from shared.api import expected_version
from shared.errors import AppError


class PreconditionRequired(AppError):
    status, code, title = 428, "precondition-required", "Precondition required"


def required_version(if_match: str | None) -> int:
    """Updates need the ETag of the last read: without it a client would overwrite blindly."""
    version = expected_version(if_match)
    if version is None:
        raise PreconditionRequired(
            'Send If-Match with the ETag of your last read (e.g. If-Match: "3").',
            errors=[{"field": "If-Match", "message": "required"}],
        )
    return version


def with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def created(body: dict[str, Any], location: str) -> JSONResponse:
    headers = {"Location": location}
    if "lock_version" in body:
        headers["ETag"] = f'"{body["lock_version"]}"'
    return JSONResponse(body, status_code=201, headers=headers)
