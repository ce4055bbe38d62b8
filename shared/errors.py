"""One error base class and the handlers that turn every failure into problem+json (RFC 9457)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope, Send

log = logging.getLogger("govperf.errors")

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """Base of every error a service raises on purpose; carries its HTTP shape."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, code, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(AppError):
    status, code, title = 428, "precondition-required", "Precondition required"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class InvalidRequest(AppError):
    """A request that does not fit its schema (pydantic's errors, each naming its field)."""

    status, code, title = 422, "validation", "Invalid request"

    @classmethod
    def of(cls, exc: ValidationError | RequestValidationError) -> InvalidRequest:
        return cls("The request has invalid fields.", errors=validation_errors(exc))


class Unprocessable(AppError):
    """Well-formed input that breaks a rule; ``errors`` lists every broken rule."""

    status, code, title = 422, "unprocessable", "Unprocessable input"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    request: Request | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:govperf:problem:{code}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
        request_id = request.scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def validation_errors(exc: ValidationError | RequestValidationError) -> list[dict[str, Any]]:
    """Name the offending field; never echo the input back (it may be huge or sensitive)."""
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
            "message": err.get("msg", "invalid"),
            "type": err.get("type", "invalid"),
        }
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return problem(
            exc.status, exc.code, exc.title, exc.detail, request=request, errors=exc.errors, headers=exc.headers
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        invalid = InvalidRequest.of(exc)
        return problem(
            invalid.status, invalid.code, invalid.title, invalid.detail, request=request, errors=invalid.errors
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(
            exc.status_code,
            f"http-{exc.status_code}",
            title,
            detail,
            request=request,
            headers=getattr(exc, "headers", None),
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(500, "internal", "Internal error", "An unexpected error occurred.", request=request)

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def problem_document(error: AppError, *, instance: str, request_id: str | None = None) -> bytes:
    """``error`` as a problem+json body."""
    body: dict[str, Any] = {
        "type": f"urn:govperf:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": instance,
    }
    if request_id:
        body["request_id"] = request_id
    if error.errors:
        body["errors"] = error.errors
    return json.dumps(body).encode()


async def send_problem(
    scope: Scope,
    send: Send,
    error: AppError,
) -> None:
    """Answer ``error`` as problem+json from pure ASGI middleware (outside FastAPI's handlers)."""
    encoded = problem_document(
        error, instance=scope.get("path", ""), request_id=scope.get("state", {}).get("request_id")
    )
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(encoded)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (error.headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": encoded})
