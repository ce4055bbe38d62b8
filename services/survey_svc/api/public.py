"""Public routes (no token; the gateway rate-limits them per address): the respondent page,
response submission with an invitation token, and the reports of published campaigns."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from html import escape
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import cookie_parser
from starlette.types import Receive, Scope, Send

from contracts.intake_batch import (
    BATCH_PATH,
    GATEWAY_SUBJECT,
    SERVICE_TOKEN_TYPE,
    IntakeAnswer,
    IntakeItem,
    decode_items,
    encode_answers,
)
from services.survey_svc.analysis import report
from services.survey_svc.analysis import service as analysis_service
from services.survey_svc.config import Settings
from services.survey_svc.questionnaire.content import Question, QuestionType
from services.survey_svc.response import service as responses
from services.survey_svc.response.intake import IntakeWriter
from services.survey_svc.response.schemas import Receipt, TokenSubmission
from shared.auth.deps import MAX_TOKEN_LENGTH, RepeatedAuthorization, bearer_token, refuse, verified_claims
from shared.auth.jwt import TokenError
from shared.errors import (
    AppError,
    BadRequest,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    problem_document,
    send_problem,
)
from shared.middleware import FastRoute, access_log, read_body
from shared.reads import DBReader, Reader
from shared.rounds import ROUND_BUSY, ROUND_ITEMS, ROUNDS
from shared.service_app import DBSession

log = logging.getLogger("govperf.survey.intake")
router = APIRouter(prefix="/public/surveys", tags=["public"])
INTAKE_PATH = "/public/surveys/responses"

TokenPath = Annotated[str, Path(min_length=1, max_length=64)]
DEVICE_COOKIE = "gp_device"
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 1000
LIKERT_LABELS = ("1 very dissatisfied", "2", "3", "4", "5 very satisfied")
PAGE_STYLE = (
    "body{font-family:sans-serif;max-width:40rem;margin:auto;padding:1rem;line-height:1.5}"
    "fieldset{border:1px solid #ccc;margin:0 0 1rem;padding:.5rem 1rem}"
    "label{display:block;padding:.25rem 0}button{font-size:1.1rem;padding:.5rem 1.5rem}"
)


def keys(request: Request) -> tuple[bytes, bytes]:
    settings: Settings = request.app.state.settings
    return (
        settings.survey_token_key.get_secret_value().encode(),
        settings.survey_device_salt.get_secret_value().encode(),
    )


def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{PAGE_STYLE}</style></head><body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _field(q: Question) -> str:
    name = escape(q.name)
    required = " required" if q.required else ""
    legend = escape(q.label) + (" <small>(required)</small>" if q.required else "")
    note = ""
    if q.show_if is not None:
        condition = f"{escape(q.show_if.question)} was {escape(q.show_if.equals)}"
        note = f"<p><small>Answer only if your answer to {condition}.</small></p>"
    if q.type == QuestionType.text:
        area = f'<textarea name="{name}" rows="4" cols="40" maxlength="4000"></textarea>'
        return f"<fieldset><legend>{legend}</legend>{note}{area}</fieldset>"
    if q.type == QuestionType.likert:
        options = [(str(v), label) for v, label in zip(range(1, 6), LIKERT_LABELS, strict=True)]
    elif q.type == QuestionType.scale_0_10:
        options = [(str(v), str(v)) for v in range(11)]
    else:
        options = [(c.name, c.label) for c in q.choices]
    kind = "checkbox" if q.type == QuestionType.multiple_choice else "radio"
    # A required checkbox group cannot be expressed in plain HTML; the server checks it.
    attribute = required if kind == "radio" else ""
    inputs = "".join(
        f'<label><input type="{kind}" name="{name}" value="{escape(value)}"{attribute}> {escape(label)}</label>'
        for value, label in options
    )
    return f"<fieldset><legend>{legend}</legend>{note}{inputs}</fieldset>"


@router.get("/s/{token}", response_class=HTMLResponse, name="get_respondent_page")
async def get_respondent_page(token: TokenPath, request: Request, reader: DBReader) -> HTMLResponse:
    """The questionnaire as a plain HTML form (no JavaScript) that posts to the intake endpoint."""
    key, _ = keys(request)
    try:
        opened = await responses.open_token(reader, key=key, token=token, with_object_name=True)
    except AppError as exc:
        return page("Survey", f"<p>{escape(exc.detail)}</p>", exc.status)
    content = opened.content
    intro = f"<p>{escape(content.description)}</p>" if content.description else ""
    fields = "".join(_field(q) for q in content.questions)
    body = (
        f"{intro}<p>You are rating: <strong>{escape(opened.object_name)}</strong></p>"
        f'<form method="post" action="/public/surveys/responses">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<input type="hidden" name="started_at" value="{int(time.time())}">'
        f'{fields}<button type="submit">Submit</button></form>'
    )
    response = page(content.title, body)
    if DEVICE_COOKIE not in request.cookies:
        # A random per-browser id, so a second response from the same browser can be flagged.
        response.set_cookie(
            DEVICE_COOKIE, secrets.token_urlsafe(16), max_age=180 * 86400, httponly=True, samesite="lax"
        )
    return response


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"A form post is limited to {MAX_FORM_BYTES // 1024} KiB.")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    return fields


def _duration(started_at: str | None) -> int | None:
    if started_at is None or not started_at.isdigit():
        return None
    elapsed = int(time.time()) - int(started_at)
    return elapsed if 0 <= elapsed <= 86_400 else None


async def record(app: FastAPI, session: AsyncSession | None, prepared: responses.PreparedResponse) -> Receipt:
    writer: IntakeWriter | None = app.state.intake_writer
    if writer is not None:
        # Set-based: the writer spends the token and inserts in its own round (its own connection;
        # the request holds none while it waits, and its session never opened one).
        return await responses.record_token_response_batched(writer, prepared)
    if session is None:
        raise RuntimeError("without the intake writer a response is recorded in the request's session")
    return await responses.record_token_response(session, prepared)


async def submit_json(
    app: FastAPI, body: bytes, *, device_cookie: str | None, reader: Reader, session: AsyncSession | None
) -> Receipt:
    """A JSON submission, from the route or the fast route: parsed and checked whole (422 naming
    the field, nothing stored, the token unspent), then recorded."""
    try:
        data = TokenSubmission.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest.of(exc) from None
    settings: Settings = app.state.settings
    prepared = await responses.prepare_token_response(
        reader,
        key=settings.survey_token_key.get_secret_value().encode(),
        salt=settings.survey_device_salt.get_secret_value().encode(),
        token=data.token,
        answers=data.answers,
        duration_seconds=data.duration_seconds,
        device_fingerprint=data.device_fingerprint or device_cookie,
        lookup=app.state.token_lookup,
    )
    return await record(app, session, prepared)


@router.post(
    "/responses",
    status_code=201,
    response_model=Receipt,
    responses={201: {"content": {"text/html": {}}}},
    name="submit_response",
)
async def submit_response(request: Request, reader: DBReader, session: DBSession) -> Response:
    """Submit a response with an invitation token (JSON, or the respondent page's form post).
    Every answer is checked first: a bad one stores nothing and leaves the token unspent."""
    key, salt = keys(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        body = await request.body()
        receipt = await submit_json(
            request.app, body, device_cookie=request.cookies.get(DEVICE_COOKIE), reader=reader, session=session
        )
        return Response(receipt.model_dump_json(), status_code=201, media_type="application/json")
    if media not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMediaType("Send JSON or an HTML form post.")
    form = await _form(request)
    token = (form.pop("token", None) or [""])[0]
    if not 1 <= len(token) <= 64:
        raise BadRequest("The form has no valid token.", errors=[{"field": "token", "message": "missing"}])
    started = form.pop("started_at", [])
    started_at = started[0] if started else None
    try:
        prepared = await responses.prepare_token_response(
            reader,
            key=key,
            salt=salt,
            token=token,
            form=form,
            duration_seconds=_duration(started_at),
            device_fingerprint=request.cookies.get(DEVICE_COOKIE),
            lookup=request.app.state.token_lookup,
        )
        receipt = await record(request.app, session, prepared)
    except AppError as exc:
        # Nothing was stored: the token is still good, so the respondent can go back and fix it.
        items = "".join(
            f"<li>{escape(e.get('field', ''))}: {escape(e.get('message', ''))}</li>" for e in exc.errors or []
        )
        return page("Your response was not recorded", f"<p>{escape(exc.detail)}</p><ul>{items}</ul>", exc.status)
    return page(
        "Thank you",
        f"<p>Your response was recorded. Receipt: <code>{escape(receipt.receipt)}</code></p>",
        201,
    )


@router.get("/campaigns/{campaign_id}/report", response_class=HTMLResponse, name="get_report")
async def get_public_report(campaign_id: uuid.UUID, session: DBSession) -> HTMLResponse:
    """The public report of a published campaign: charts, methods and data links."""
    campaign, analysis = await analysis_service.published(session, campaign_id)
    html = await asyncio.to_thread(report.to_html, campaign, analysis)
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=300"})


@router.get("/campaigns/{campaign_id}/report.csv", response_class=Response, name="get_report_csv")
async def get_public_report_csv(campaign_id: uuid.UUID, session: DBSession) -> Response:
    """The published indices as CSV."""
    _, analysis = await analysis_service.published(session, campaign_id)
    return Response(report.to_csv(analysis), media_type="text/csv", headers={"Cache-Control": "public, max-age=300"})


@router.get("/campaigns/{campaign_id}/report.xlsx", response_class=Response, name="get_report_xlsx")
async def get_public_report_xlsx(campaign_id: uuid.UUID, session: DBSession) -> Response:
    """The published indices as an Excel workbook."""
    _, analysis = await analysis_service.published(session, campaign_id)
    data = await asyncio.to_thread(report.to_xlsx, analysis)
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Cache-Control": "public, max-age=300"},
    )


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for n, v in scope["headers"] if n == name), None)


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _takes_fast_intake(scope: Scope) -> bool:
    # JSON only (a form post renders HTML pages), and only with the intake writer: without it (tests
    # sharing one rolled-back transaction) the route's dependencies decide where data goes.
    app = scope.get("app")
    return (
        getattr(getattr(app, "state", None), "intake_writer", None) is not None
        and _media_type(_header(scope, b"content-type")) == "application/json"
    )


async def _answer_json(app: FastAPI, body: bytes, cookie_header: str | None, request_id: str | None) -> IntakeAnswer:
    """One JSON submission's answer: 201 with the receipt, or the problem."""
    try:
        receipt = await submit_json(
            app,
            body,
            device_cookie=cookie_parser(cookie_header or "").get(DEVICE_COOKIE),
            reader=app.state.reader,
            session=None,
        )
    except AppError as exc:
        return IntakeAnswer(exc.status, problem_document(exc, instance=INTAKE_PATH, request_id=request_id))
    return IntakeAnswer(201, receipt.model_dump_json().encode())


async def _send_answer(send: Send, answer: IntakeAnswer) -> None:
    headers = [(b"content-type", answer.media_type.encode()), (b"content-length", str(len(answer.body)).encode())]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def submit_response_fast(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /public/surveys/responses`` with JSON as a fast route (``shared.middleware.FastRoutes``):
    the same checks and writes as the route, without the router, dependency injection or a session."""
    body = await read_body(receive)
    if body is not None:
        request_id = scope.get("state", {}).get("request_id")
        await _send_answer(send, await _answer_json(scope["app"], body, _header(scope, b"cookie"), request_id))


# A batch counts as a round of its own in the round metrics (shared.rounds): its time from frames
# decoded to answers ready (its token read and its write included).
BATCH_STAGE = "survey-intake-batch"
BATCHES, BATCH_ITEMS, BATCH_BUSY = (metric.labels(BATCH_STAGE) for metric in (ROUNDS, ROUND_ITEMS, ROUND_BUSY))


def _submission(item: IntakeItem) -> responses.TokenResponse:
    """One batched JSON submission, parsed and bounded as the route parses it (InvalidRequest)."""
    try:
        data = TokenSubmission.model_validate_json(item.body)
    except ValidationError as exc:
        raise InvalidRequest.of(exc) from None
    return responses.TokenResponse(
        token=data.token,
        answers=data.answers,
        duration_seconds=data.duration_seconds,
        device_fingerprint=data.device_fingerprint or cookie_parser(item.cookie).get(DEVICE_COOKIE),
    )


def _problem(exc: AppError, item: IntakeItem) -> IntakeAnswer:
    return IntakeAnswer(exc.status, problem_document(exc, instance=INTAKE_PATH, request_id=item.request_id))


async def answer_batch(app: FastAPI, items: list[IntakeItem]) -> list[IntakeAnswer]:
    """Each item answered as ``POST /public/surveys/responses`` would answer it alone, with one
    token read and one write for the whole batch (``responses.record_token_responses``)."""
    answers: list[IntakeAnswer | None] = [None] * len(items)
    valid: list[responses.TokenResponse] = []
    valid_at: list[int] = []
    for at, item in enumerate(items):
        try:
            valid.append(_submission(item))
            valid_at.append(at)
        except AppError as exc:
            answers[at] = _problem(exc, item)
    if valid:
        settings: Settings = app.state.settings
        try:
            outcomes = await responses.record_token_responses(
                app.state.reader,
                app.state.intake_writer,
                key=settings.survey_token_key.get_secret_value().encode(),
                salt=settings.survey_device_salt.get_secret_value().encode(),
                submissions=valid,
            )
        except Exception:  # the database failed the batch: it changed nothing, and each gets a 500
            log.exception("intake batch of %d failed", len(valid))
            outcomes = [responses.InternalError("An unexpected error occurred.")] * len(valid)
        for at, outcome in zip(valid_at, outcomes, strict=True):
            answers[at] = (
                _problem(outcome, items[at])
                if isinstance(outcome, AppError)
                else IntakeAnswer(201, outcome.model_dump_json().encode())
            )
    return [answer for answer in answers if answer is not None]


async def gateway_refusal(scope: Scope) -> AppError | None:
    """None when the request carries the gateway's own service token (``contracts.intake_batch``),
    verified against the platform's JWKS like any token; else the problem to answer (401 without
    a valid token, 403 for anyone else's). Batches carry what the gateway vouches for, so nobody
    else may send them."""
    try:
        token = bearer_token(scope["headers"])
    except RepeatedAuthorization as exc:
        return exc
    if token is None or len(token) > MAX_TOKEN_LENGTH:
        return Unauthorized()
    try:
        claims = await verified_claims(scope, scope["app"].state.verifier, token)
    except TokenError as exc:
        return refuse(exc)
    if claims.get("typ") != SERVICE_TOKEN_TYPE or claims.get("sub") != GATEWAY_SUBJECT:
        return Forbidden("Only the gateway sends intake batches.")
    return None


def log_items(items: list[IntakeItem], answers: list[IntakeAnswer], seconds: float) -> None:
    """One access line per submission of a batch, as the route would log it alone: its own request
    id and status, and the batch's time (the submissions were answered together)."""
    ms = round(seconds * 1000, 2)
    for item, answer in zip(items, answers, strict=True):
        access_log.info(
            '{"request_id": %s, "method": "POST", "path": "%s", "status": %d, "ms": %s, "batched": true}',
            json.dumps(item.request_id),
            INTAKE_PATH,
            answer.status,
            ms,
        )


async def submit_batch(scope: Scope, receive: Receive, send: Send) -> None:
    """The gateway's batches of JSON submissions (``contracts.intake_batch``), from the gateway only
    (``gateway_refusal``): each item answered as ``POST /public/surveys/responses`` would answer it,
    all in one reply. 404 without the intake writer, so the gateway sends submissions one by one
    instead."""
    app = scope["app"]
    if app.state.intake_writer is None:
        await send_problem(scope, send, NotFound("This service takes no intake batches."))
        return
    refusal = await gateway_refusal(scope)
    if refusal is not None:
        await send_problem(scope, send, refusal)
        return
    body = await read_body(receive)
    if body is None:
        return
    try:
        items = decode_items(body)
    except ValueError:
        await send_problem(scope, send, BadRequest("Not a well-formed intake batch."))
        return
    started = time.perf_counter()
    answers = await answer_batch(app, items)
    elapsed = time.perf_counter() - started
    BATCHES.inc()
    BATCH_ITEMS.inc(len(items))
    BATCH_BUSY.inc(elapsed)
    if access_log.isEnabledFor(logging.INFO):
        log_items(items, answers, elapsed)
    data = encode_answers(answers)
    headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})


FAST_ROUTES = [
    FastRoute("POST", INTAKE_PATH, submit_response_fast, _takes_fast_intake),
    FastRoute("POST", BATCH_PATH, submit_batch),
]
