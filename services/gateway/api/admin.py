"""Admin API: users, API clients, the audit log and signing keys (admin; perf office for users in scope)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.gateway.db import TABLES
from services.gateway.identity import logic
from services.gateway.identity import service as identity
from services.gateway.identity.models import User
from services.gateway.identity.schemas import (
    AuditPage,
    AuditRead,
    ClientCreate,
    ClientCreated,
    ClientPage,
    ClientRead,
    ExternalIdentityPage,
    ExternalIdentityRead,
    PasswordReset,
    SigningKeyList,
    SigningKeyRead,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from services.gateway.keys import service as keys
from services.gateway.principal import GatewayPrincipal, security_stamps
from shared import idempotency
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.principal import OrgPath
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Page = Annotated[PageParams, Depends(page_params)]


def etag(user: User) -> str:
    return f'"{user.lock_version}"'


def user_response(user: User, response: Response) -> UserRead:
    response.headers["ETag"] = etag(user)
    return UserRead.model_validate(user)


@router.post("/users", status_code=201, response_model=UserRead)
async def create_user(
    request: Request,
    data: UserCreate,
    session: DBSession,
    principal: GatewayPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a user (a perf office: inside its scope, without admin-only roles)."""
    # The fingerprint leaves the password out: the idempotency table must never hold it.
    fingerprint = idempotency.request_fingerprint(
        request.method, request.url.path, data.model_dump(mode="json", exclude={"password"})
    )

    async def created() -> dict[str, Any]:
        passwords = identity.passwords_of(request.app)
        user = await identity.create_user(session, principal=principal, data=data, passwords=passwords)
        return UserRead.model_validate(user).model_dump(mode="json")

    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=idempotency_key,
        fingerprint=fingerprint,
        create=created,
        location="/api/v1/admin/users/{id}",
    )


@router.get("/users", response_model=UserPage)
async def list_users(
    session: DBSession,
    principal: GatewayPrincipal,
    page: Page,
    org_path: Annotated[OrgPath | None, Query()] = None,
    ids: Annotated[str | None, Query(max_length=20_000)] = None,
) -> UserPage:
    """List the users you manage (everyone for an admin, your subtree for a perf office)."""
    items, next_cursor = await identity.list_users(
        session, principal=principal, page=page, org_path=org_path, ids=parse_ids(ids)
    )
    return UserPage(items=[UserRead.model_validate(u) for u in items], next_cursor=next_cursor)


@router.get("/users/{user_id}", response_model=UserRead)
async def get_user(user_id: uuid.UUID, response: Response, session: DBSession, principal: GatewayPrincipal) -> UserRead:
    """Read one user (404 outside your scope)."""
    return user_response(await identity.get_user(session, principal=principal, user_id=user_id), response)


@router.patch("/users/{user_id}", response_model=UserRead)
async def update_user(
    request: Request,
    user_id: uuid.UUID,
    data: UserUpdate,
    response: Response,
    session: DBSession,
    principal: GatewayPrincipal,
    if_match: IfMatch = None,
) -> UserRead:
    """Change roles, scope, name or the disabled flag; older tokens of the user stop working."""
    user = await identity.update_user(
        session,
        principal=principal,
        user_id=user_id,
        data=data,
        expected_version=expected_version(if_match, data.version),
    )
    security_stamps(request.app).forget("user", str(user.id))
    return user_response(user, response)


@router.post("/users/{user_id}/password", status_code=204)
async def reset_password(
    request: Request, user_id: uuid.UUID, data: PasswordReset, session: DBSession, principal: GatewayPrincipal
) -> Response:
    """Set a new password; the user's tokens and refresh tokens stop working."""
    user = await identity.reset_password(
        session,
        principal=principal,
        user_id=user_id,
        new_password=data.new_password,
        passwords=identity.passwords_of(request.app),
    )
    security_stamps(request.app).forget("user", str(user.id))
    return Response(status_code=204)


@router.post("/clients", status_code=201, response_model=ClientCreated)
async def create_client(
    request: Request, data: ClientCreate, session: DBSession, principal: GatewayPrincipal
) -> JSONResponse:
    """Create an API client; its secret is in this answer only."""
    # No Idempotency-Key here: a replayed answer would have to store the secret.
    client, secret = await identity.create_client(
        session, principal=principal, data=data, passwords=identity.passwords_of(request.app)
    )
    body = ClientCreated.model_validate({**ClientRead.model_validate(client).model_dump(), "client_secret": secret})
    return JSONResponse(body.model_dump(mode="json"), status_code=201, headers={"Cache-Control": "no-store"})


@router.get("/clients", response_model=ClientPage)
async def list_clients(session: DBSession, principal: GatewayPrincipal, page: Page) -> ClientPage:
    """List API clients (admin)."""
    items, next_cursor = await identity.list_clients(session, principal=principal, page=page)
    return ClientPage(items=[ClientRead.model_validate(c) for c in items], next_cursor=next_cursor)


@router.post("/clients/{client_id}/revoke", response_model=ClientRead)
async def revoke_client(
    request: Request, client_id: uuid.UUID, session: DBSession, principal: GatewayPrincipal
) -> ClientRead:
    """Revoke an API client: no new tokens, and its current tokens are refused."""
    client = await identity.revoke_client(session, principal=principal, client_id=client_id)
    security_stamps(request.app).forget("client", client.client_id)
    return ClientRead.model_validate(client)


@router.get("/external-identities", response_model=ExternalIdentityPage)
async def list_external_identities(session: DBSession, principal: GatewayPrincipal, page: Page) -> ExternalIdentityPage:
    """People known through external issuers' token exchanges (admin)."""
    items, next_cursor = await identity.list_external_identities(session, principal=principal, page=page)
    return ExternalIdentityPage(items=[ExternalIdentityRead.model_validate(e) for e in items], next_cursor=next_cursor)


@router.post("/external-identities/{identity_id}/revoke", response_model=ExternalIdentityRead)
async def revoke_external_identity(
    request: Request, identity_id: uuid.UUID, session: DBSession, principal: GatewayPrincipal
) -> ExternalIdentityRead:
    """Revoke an external person: no more exchanges, and its current govperf tokens are refused (admin)."""
    row = await identity.revoke_external_identity(session, principal=principal, identity_id=identity_id)
    security_stamps(request.app).forget("external", row.subject)
    return ExternalIdentityRead.model_validate(row)


@router.get("/audit", response_model=AuditPage)
async def list_audit(
    session: DBSession,
    principal: GatewayPrincipal,
    page: Page,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    """The audit log of administrative actions, oldest first (admin)."""
    items, next_cursor = await identity.list_audit(
        session, principal=principal, page=page, action=action, target_id=target_id
    )
    return AuditPage(items=[AuditRead.model_validate(e) for e in items], next_cursor=next_cursor)


@router.get("/keys", response_model=SigningKeyList)
async def list_keys(session: DBSession, principal: GatewayPrincipal) -> SigningKeyList:
    """The gateway's signing keys and their lifecycle times (admin; public halves only)."""
    logic.check_admin(principal)
    return SigningKeyList(items=[SigningKeyRead.model_validate(k) for k in await keys.list_keys(session)])


@router.post("/keys/rotate", status_code=201, response_model=SigningKeyRead)
async def rotate_keys(request: Request, session: DBSession, principal: GatewayPrincipal) -> SigningKeyRead:
    """Add a signing key now: published at once, signing after key_publish_ahead_seconds (admin)."""
    logic.check_admin(principal)
    key = await keys.key_ring(request.app).rotate(session, actor=principal.subject)
    await identity.record(
        session,
        actor=principal,
        action="key.rotated",
        target_type="signing_key",
        target_id=key.kid,
        details={"activates_at": key.activates_at.isoformat()},
    )
    return SigningKeyRead.model_validate(key)
