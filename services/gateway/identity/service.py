"""Identity use cases: users, API clients, audit log, first admin. They flush; the caller commits."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Select, exists, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.identity import logic
from services.gateway.identity.models import ApiClient, AuditEntry, User
from services.gateway.identity.passwords import Passwords, generate_secret
from services.gateway.identity.schemas import ClientCreate, UserCreate, UserUpdate
from services.gateway.tokens.models import RefreshToken
from shared.api import check_version
from shared.auth.principal import Principal, Role
from shared.db import committing, utcnow
from shared.errors import Conflict, Forbidden, NotFound
from shared.pagination import PageParams, paginate

ROOT_ORG_UNIT_ID = uuid.UUID("00000000-0000-7000-8000-000000000000")
FIRST_ADMIN_USERNAME = "admin"
SYSTEM_ACTOR = "system"
# Serializes first-admin creation across gateway replicas starting together ("gvad").
FIRST_ADMIN_LOCK_ID = 0x67766164


# --- audit -------------------------------------------------------------------------------


async def record(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: str,
    target_type: str,
    target_id: object,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """One audit row in the caller's transaction: the action and its record commit together."""
    entry = AuditEntry(
        actor=actor.subject if actor else SYSTEM_ACTOR,
        actor_roles=sorted(actor.roles) if actor else [],
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
    )
    session.add(entry)
    await session.flush()
    return entry


async def list_audit(
    session: AsyncSession, *, principal: Principal, page: PageParams, action: str | None, target_id: str | None
) -> tuple[list[AuditEntry], str | None]:
    logic.check_admin(principal)
    stmt: Select[Any] = select(AuditEntry)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if target_id is not None:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    return await paginate(session, stmt, AuditEntry.id, page)


# --- users -------------------------------------------------------------------------------


def in_subtree(org_path: str) -> Any:
    if org_path == "/":
        return User.org_path.startswith("/")
    return (User.org_path == org_path) | User.org_path.startswith(org_path + "/", autoescape=True)


async def revoke_refresh_tokens(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def create_user(
    session: AsyncSession, *, principal: Principal | None, data: UserCreate, passwords: Passwords
) -> User:
    """``principal`` None means the system (first admin)."""
    if principal is not None:
        logic.check_may_manage_user(principal, org_paths=[data.org_path], roles=data.roles)
    if data.password.lower() == data.username.lower():
        raise Conflict("The password must not be the username.")
    user = User(
        username=data.username.lower(),
        display_name=data.display_name,
        email=data.email,
        password_hash=await passwords.hash(data.password),
        roles=[str(r) for r in data.roles],
        org_unit_id=data.org_unit_id,
        org_path=data.org_path,
        created_by=principal.subject if principal else SYSTEM_ACTOR,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        raise Conflict(f"The username {data.username.lower()!r} is taken.") from None
    await record(
        session,
        actor=principal,
        action="user.created",
        target_type="user",
        target_id=user.id,
        details={"username": user.username, "roles": user.roles, "org_path": user.org_path},
    )
    return user


async def get_user(
    session: AsyncSession, *, principal: Principal, user_id: uuid.UUID, for_update: bool = False
) -> User:
    stmt = select(User).where(User.id == user_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    user = await session.scalar(stmt)
    # Out of scope reads as missing: a perf office cannot probe other units' accounts.
    if user is None or not logic.may_see_user(principal, user.org_path):
        raise NotFound("No such user.")
    return user


async def list_users(
    session: AsyncSession, *, principal: Principal, page: PageParams, org_path: str | None, ids: list[uuid.UUID] | None
) -> tuple[list[User], str | None]:
    if not principal.has_any(logic.USER_MANAGERS):
        raise Forbidden("Only an admin or the performance office may list users.")
    stmt: Select[Any] = select(User)
    if not logic.is_admin(principal):
        stmt = stmt.where(in_subtree(principal.org_path))
    if org_path is not None:
        stmt = stmt.where(in_subtree(org_path))
    if ids is not None:
        stmt = stmt.where(User.id.in_(ids))
    return await paginate(session, stmt, User.id, page)


async def update_user(
    session: AsyncSession, *, principal: Principal, user_id: uuid.UUID, data: UserUpdate, expected_version: int | None
) -> User:
    user = await get_user(session, principal=principal, user_id=user_id, for_update=True)
    check_version(user.lock_version, expected_version)
    new_roles = [str(r) for r in data.roles] if data.roles is not None else user.roles
    new_path = data.org_path if data.org_path is not None else user.org_path
    logic.check_may_manage_user(principal, org_paths=[user.org_path, new_path], roles=[*user.roles, *new_roles])
    if user.id == _subject_id(principal) and (
        data.disabled or (data.roles is not None and Role.admin in user.roles and Role.admin not in data.roles)
    ):
        raise Conflict("You cannot disable yourself or remove your own admin role.")
    changes: dict[str, Any] = {}
    for field, value in data.model_dump(exclude_unset=True, exclude={"version", "unlock"}).items():
        value = [str(r) for r in value] if field == "roles" else value
        if value is not None and getattr(user, field) != value:
            changes[field] = {"from": _jsonable(getattr(user, field)), "to": _jsonable(value)}
            setattr(user, field, value)
    if data.unlock and (user.locked_until is not None or user.failed_logins):
        changes["locked_until"] = {"from": _jsonable(user.locked_until), "to": None}
        user.locked_until, user.failed_logins = None, 0
    if not changes:
        return user
    # What a token asserts (roles, scope, being enabled) changed: older tokens must stop working.
    if changes.keys() & {"roles", "org_unit_id", "org_path", "disabled"}:
        user.security_stamp += 1
    if user.disabled:
        await revoke_refresh_tokens(session, user_id=user.id)
    user.lock_version += 1
    await session.flush()
    await record(
        session,
        actor=principal,
        action="user.updated",
        target_type="user",
        target_id=user.id,
        details={"changes": changes},
    )
    return user


async def reset_password(
    session: AsyncSession, *, principal: Principal, user_id: uuid.UUID, new_password: str, passwords: Passwords
) -> User:
    user = await get_user(session, principal=principal, user_id=user_id, for_update=True)
    logic.check_may_manage_user(principal, org_paths=[user.org_path], roles=user.roles)
    if new_password.lower() == user.username:
        raise Conflict("The password must not be the username.")
    user.password_hash = await passwords.hash(new_password)
    user.password_changed_at = utcnow()
    user.failed_logins, user.locked_until = 0, None
    user.security_stamp += 1
    user.lock_version += 1
    await revoke_refresh_tokens(session, user_id=user.id)
    await session.flush()
    await record(session, actor=principal, action="user.password_reset", target_type="user", target_id=user.id)
    return user


async def find_user(session: AsyncSession, *, subject: str) -> User | None:
    """The user a token's ``sub`` names (its id), if any."""
    user_id = _parse_uuid(subject)
    return await session.get(User, user_id) if user_id is not None else None


async def find_client(session: AsyncSession, *, client_id: str) -> ApiClient | None:
    return await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _subject_id(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | dt.datetime):
        return str(value)
    return value


async def ensure_first_admin(session: AsyncSession, *, password: str | None, passwords: Passwords) -> str | None:
    """On a fresh identity schema, create ``admin`` at ``/``. Returns the password when it was generated
    (the caller prints it once), None when it came from the settings or users already exist."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": FIRST_ADMIN_LOCK_ID})
    if await session.scalar(select(exists().where(User.id.is_not(None)))):
        return None
    generated = None if password else generate_secret()
    data = UserCreate(
        username=FIRST_ADMIN_USERNAME,
        display_name="Administrator",
        password=password or generated,
        roles=[Role.admin],
        org_unit_id=ROOT_ORG_UNIT_ID,
        org_path="/",
    )
    await create_user(session, principal=None, data=data, passwords=passwords)
    return generated


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


# --- API clients -------------------------------------------------------------------------


async def create_client(
    session: AsyncSession, *, principal: Principal, data: ClientCreate, passwords: Passwords
) -> tuple[ApiClient, str]:
    """The new client and its secret, which is returned this once and stored only as a hash."""
    logic.check_admin(principal)
    secret = generate_secret()
    client = ApiClient(
        client_id=f"gpc_{secrets.token_hex(10)}",
        name=data.name,
        secret_hash=await passwords.hash(secret),
        roles=[str(r) for r in data.roles],
        org_unit_id=data.org_unit_id,
        org_path=data.org_path,
        created_by=principal.subject,
    )
    session.add(client)
    await session.flush()
    await record(
        session,
        actor=principal,
        action="client.created",
        target_type="client",
        target_id=client.client_id,
        details={"name": client.name, "roles": client.roles, "org_path": client.org_path},
    )
    return client, secret


async def list_clients(
    session: AsyncSession, *, principal: Principal, page: PageParams
) -> tuple[list[ApiClient], str | None]:
    logic.check_admin(principal)
    return await paginate(session, select(ApiClient), ApiClient.id, page)


async def revoke_client(session: AsyncSession, *, principal: Principal, client_id: uuid.UUID) -> ApiClient:
    logic.check_admin(principal)
    client = await session.scalar(select(ApiClient).where(ApiClient.id == client_id).with_for_update())
    if client is None:
        raise NotFound("No such client.")
    if client.revoked_at is None:
        client.revoked_at, client.revoked_by = utcnow(), principal.subject
        client.security_stamp += 1
        await session.flush()
        await record(
            session, actor=principal, action="client.revoked", target_type="client", target_id=client.client_id
        )
    return client


# --- security state (the gateway's per-request check) ---------------------------------------


async def current_stamp(session: AsyncSession, *, kind: str, subject: str) -> int | None:
    """The security stamp a token of this user/client must carry, or None when it may not call at all."""
    if kind == "user":
        try:
            user_id = uuid.UUID(subject)
        except ValueError:
            return None
        # A login lockout does not end sessions: otherwise anyone could log a user out by guessing.
        row = (await session.execute(select(User.security_stamp, User.disabled).where(User.id == user_id))).first()
        if row is None or row.disabled:
            return None
        return int(row.security_stamp)
    if kind == "client":
        client_row = (
            await session.execute(
                select(ApiClient.security_stamp, ApiClient.revoked_at).where(ApiClient.client_id == subject)
            )
        ).first()
        if client_row is None or client_row.revoked_at is not None:
            return None
        return int(client_row.security_stamp)
    return None


# --- startup -----------------------------------------------------------------------------


def passwords_of(app: FastAPI) -> Passwords:
    passwords: Passwords = app.state.passwords
    return passwords


async def start_identity(app: FastAPI) -> None:
    """Startup: the password hasher, and on a fresh schema the first admin (password from
    GOVPERF_ADMIN_PASSWORD, else generated and printed once to stdout)."""
    settings = app.state.settings
    passwords = app.state.passwords = Passwords(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    configured = settings.admin_password.get_secret_value() if settings.admin_password else None
    async with app.state.sessionmaker() as session, committing(session):
        generated = await ensure_first_admin(session, password=configured, passwords=passwords)
    if generated is not None:
        # stdout, once, never the log: logs are shipped and kept; this line is for the operator's eyes.
        print(
            f"govperf gateway: created the first admin. username: {FIRST_ADMIN_USERNAME}  "
            f"password: {generated}  (shown once; change it)",
            flush=True,
        )
