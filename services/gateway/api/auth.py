"""OAuth2 token and revocation endpoints, JWKS, discovery and ``/api/v1/me``."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from services.gateway.config import Settings
from services.gateway.identity import logic as identity_logic
from services.gateway.identity import service as identity
from services.gateway.identity.schemas import MeRead, OwnPasswordChange
from services.gateway.identity.service import passwords_of
from services.gateway.keys.service import key_ring, published_jwks
from services.gateway.principal import AccountState, GatewayPrincipal, security_stamps
from services.gateway.tokens import errors, logic, service
from services.gateway.tokens.schemas import Jwks, OAuthErrorBody, OpenIdConfiguration, TokenResponse
from shared.errors import problem
from shared.service_app import DBSession

router = APIRouter(tags=["auth"])

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024
MAX_FIELD_LENGTH = 1024
LONG_FIELDS = {"subject_token": 8192, "password": 256, "client_secret": 256}
ACCOUNT_PASSWORD_PATH = "/api/v1/account/password"  # noqa: S105 - a route, not a secret
OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": OAuthErrorBody}, 401: {"model": OAuthErrorBody}}


def form_body(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    """The OpenAPI of a form read by ``read_form`` (it is parsed by hand, so FastAPI cannot see it)."""
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {FORM_MEDIA_TYPE: {"schema": schema}}}}


TOKEN_FORM = form_body(
    {
        "grant_type": "password, client_credentials, refresh_token or token-exchange",
        "username": "password grant",
        "password": "password grant",
        "client_id": "client_credentials (or HTTP Basic)",
        "client_secret": "client_credentials (or HTTP Basic)",
        "refresh_token": "refresh_token grant",
        "subject_token": "token-exchange grant",
        "subject_token_type": "token-exchange grant",
    },
    ["grant_type"],
)
REVOKE_FORM = form_body({"token": "the refresh token to revoke"}, ["token"])


async def read_form(request: Request) -> dict[str, str]:
    """The form fields, each once (RFC 6749 3.2), bounded in count and length."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_MEDIA_TYPE:
        raise errors.invalid_request(f"The body must be {FORM_MEDIA_TYPE}.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise errors.invalid_request("The request body is too large.")
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=False, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise errors.invalid_request("The form could not be parsed.") from None
    form = {}
    for name, values in parsed.items():
        if len(values) != 1:
            raise errors.invalid_request(f"The parameter {name!r} is repeated.")
        if len(values[0]) > LONG_FIELDS.get(name, MAX_FIELD_LENGTH):
            raise errors.invalid_request(f"The parameter {name!r} is too long.")
        form[name] = values[0]
    return form


def client_source(request: Request) -> str:
    """Where a login comes from (behind a balancer, uvicorn's --proxy-headers make this the client)."""
    return identity_logic.login_source(request.client.host if request.client else None)


def required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise errors.invalid_request(f"The parameter {name!r} is required.")
    return value


def client_credentials_of(request: Request, form: dict[str, str]) -> tuple[str, str, bool]:
    """(client_id, client_secret, came by HTTP Basic); Basic and form together are refused."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        if "client_id" in form or "client_secret" in form:
            raise errors.invalid_request("Use one client authentication method.")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise errors.invalid_client(basic=True) from None
        client_id, sep, secret = decoded.partition(":")
        if not sep or len(client_id) > MAX_FIELD_LENGTH or len(secret) > 256:
            raise errors.invalid_client(basic=True)
        # RFC 6749 2.3.1: both parts are form-urlencoded inside the Basic header.
        return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " ")), True
    if "client_id" not in form or "client_secret" not in form:
        raise errors.invalid_client(basic=False)
    return form["client_id"], form["client_secret"], False


def external_verifiers(app: FastAPI) -> dict[str, Any]:
    """Built on first use: configured issuers' JWKS are fetched only when someone exchanges a token."""
    verifiers: dict[str, Any] | None = getattr(app.state, "external_verifiers", None)
    if verifiers is None:
        verifiers = app.state.external_verifiers = service.external_verifiers(app.state.settings)
    return verifiers


def token_response(access_token: str, expires_in: int, **extra: Any) -> JSONResponse:
    body = TokenResponse(access_token=access_token, expires_in=expires_in, **extra)
    return JSONResponse(body.model_dump(exclude_none=True), headers=errors.NO_STORE)


@router.post("/oauth/token", response_model=TokenResponse, responses=OAUTH_ERRORS, openapi_extra=TOKEN_FORM)
async def token(request: Request, session: DBSession) -> JSONResponse:
    """Issue tokens: grants password, client_credentials, refresh_token and token-exchange."""
    settings: Settings = request.app.state.settings
    ring, passwords = key_ring(request.app), passwords_of(request.app)
    try:
        form = await read_form(request)
        grant_type = required(form, "grant_type")
        if grant_type == logic.PASSWORD:
            user = await service.authenticate_user(
                session,
                settings=settings,
                passwords=passwords,
                username=required(form, "username")[:64],
                password=required(form, "password"),
                source=client_source(request),
            )
            if user.must_change_password:
                # Said only after the right password: nobody else learns the account's state.
                raise errors.OAuthError(
                    "invalid_grant", f"The password must be changed before signing in: POST {ACCOUNT_PASSWORD_PATH}."
                )
            refresh_token = await service.issue_refresh_token(session, settings=settings, user_id=user.id)
            access = await service.mint_access_token(
                ring, service.user_grant(user), settings=settings, lifetime=settings.access_token_ttl_seconds
            )
            return token_response(access, settings.access_token_ttl_seconds, refresh_token=refresh_token)
        if grant_type == logic.REFRESH_TOKEN:
            user, refresh_token = await service.rotate_refresh_token(
                session, settings=settings, token=required(form, "refresh_token")
            )
            access = await service.mint_access_token(
                ring, service.user_grant(user), settings=settings, lifetime=settings.access_token_ttl_seconds
            )
            return token_response(access, settings.access_token_ttl_seconds, refresh_token=refresh_token)
        if grant_type == logic.CLIENT_CREDENTIALS:
            client_id, secret, basic = client_credentials_of(request, form)
            client = await service.authenticate_client(
                session, passwords=passwords, client_id=client_id, client_secret=secret, basic=basic
            )
            access = await service.mint_access_token(
                ring, service.client_grant(client), settings=settings, lifetime=settings.client_token_ttl_seconds
            )
            return token_response(access, settings.client_token_ttl_seconds)
        if grant_type == logic.TOKEN_EXCHANGE and settings.oidc_issuers:
            if form.get("subject_token_type") not in (logic.JWT_TOKEN_TYPE, logic.ACCESS_TOKEN_TYPE):
                raise errors.invalid_request("subject_token_type must name a JWT or an access token.")
            verifiers = external_verifiers(request.app)
            grant, external_expiry = await service.exchange_external_token(
                session, verifiers, required(form, "subject_token")
            )
            lifetime = min(settings.access_token_ttl_seconds, external_expiry - int(time.time()))
            access = await service.mint_access_token(ring, grant, settings=settings, lifetime=lifetime)
            return token_response(access, lifetime, issued_token_type=logic.ACCESS_TOKEN_TYPE)
        raise errors.OAuthError("unsupported_grant_type", "This grant type is not supported.")
    except errors.OAuthError as exc:
        # Answered, not raised: the session still commits what the failure changed (lockout
        # counters, a revoked refresh-token family).
        return exc.response()


@router.post("/oauth/revoke", responses=OAUTH_ERRORS, openapi_extra=REVOKE_FORM)
async def revoke(request: Request, session: DBSession) -> JSONResponse:
    """Revoke a refresh token and its family (RFC 7009); unknown tokens are accepted silently."""
    try:
        form = await read_form(request)
        await service.revoke_token(session, token=required(form, "token"))
    except errors.OAuthError as exc:
        return exc.response()
    return JSONResponse({}, headers=errors.NO_STORE)


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(request: Request) -> JSONResponse:
    """The public keys that verify the gateway's tokens (pending, signing and retiring ones)."""
    # Short cache: services re-read within minutes, and new keys are published well ahead of use.
    return JSONResponse({"keys": await published_jwks(request.app)}, headers={"Cache-Control": "public, max-age=60"})


@router.get("/.well-known/openid-configuration", response_model=OpenIdConfiguration)
async def openid_configuration(request: Request) -> OpenIdConfiguration:
    """OAuth 2.0 authorization server metadata (RFC 8414 fields, OIDC discovery path)."""
    settings: Settings = request.app.state.settings
    base = settings.public_url.rstrip("/")
    grants = [logic.PASSWORD, logic.CLIENT_CREDENTIALS, logic.REFRESH_TOKEN]
    if settings.oidc_issuers:
        grants.append(logic.TOKEN_EXCHANGE)
    return OpenIdConfiguration(
        issuer=settings.jwt_issuer,
        token_endpoint=f"{base}/oauth/token",
        revocation_endpoint=f"{base}/oauth/revoke",
        jwks_uri=f"{base}/.well-known/jwks.json",
        userinfo_endpoint=f"{base}/api/v1/me",
        grant_types_supported=grants,
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        id_token_signing_alg_values_supported=[settings.jwt_algorithm],
        token_endpoint_auth_signing_alg_values_supported=[settings.jwt_algorithm],
        response_types_supported=["token"],
        subject_types_supported=["public"],
        claims_supported=list(logic.ACCESS_TOKEN_CLAIMS),
    )


@router.get("/api/v1/me", response_model=MeRead)
async def me(request: Request, principal: GatewayPrincipal) -> MeRead:
    """The caller: roles and scope from the token, and the account behind it."""
    kind: str = request.state.token_kind
    # The account as read with its security stamp (at most principal_cache_seconds old).
    account: AccountState | None = request.state.account
    user = account.user if account is not None else None
    client = account.client if account is not None else None
    return MeRead(
        subject=principal.subject,
        kind=kind,
        roles=sorted(principal.roles),
        org_unit_id=principal.org_unit_id,
        org_path=principal.org_path,
        user=user,
        client=client,
    )


@router.post(ACCOUNT_PASSWORD_PATH, status_code=204)
async def change_own_password(request: Request, data: OwnPasswordChange, session: DBSession) -> Response:
    """Change your own password with the current one (required first for a generated admin password)."""
    settings: Settings = request.app.state.settings
    passwords = passwords_of(request.app)
    try:
        user = await service.authenticate_user(
            session,
            settings=settings,
            passwords=passwords,
            username=data.username,
            password=data.current_password,
            source=client_source(request),
        )
    except errors.OAuthError:
        # Answered, not raised: the failure counters commit with the session.
        detail = errors.invalid_credentials().description
        return problem(401, "unauthorized", "Authentication failed", detail, request=request)
    await identity.change_own_password(session, user=user, new_password=data.new_password, passwords=passwords)
    security_stamps(request.app).forget("user", str(user.id))
    return Response(status_code=204)
