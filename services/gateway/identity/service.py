"""Identity use cases: users, API clients, audit log, first admin. They flush; the caller commits."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Select, case, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.org_units import OrgUnitChanged
from services.gateway.identity import logic
from services.gateway.identity.models import ApiClient, AuditEntry, ExternalIdentity, LoginThrottle, OrgUnit, User
from services.gateway.identity.passwords import Passwords, generate_secret
from services.gateway.identity.schemas import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    ClientCreate,
    UserCreate,
    UserUpdate,
)
from services.gateway.tokens.models import RefreshToken
from shared.api import check_version
from shared.auth.principal import Principal, Role
from shared.db import committing, utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.ids import new_id
from shared.pagination import PageParams, paginate

ROOT_ORG_UNIT_ID = logic.ROOT_ORG_UNIT_ID
FIRST_ADMIN_USERNAME = "admin"
SYSTEM_ACTOR = "system"
# Serializes first-admin creation across gateway replicas starting together ("gvad").
FIRST_ADMIN_LOCK_ID = 0x67766164
# Serializes org-unit assignments while only their consistency can be checked ("gvou").
ORG_ASSIGNMENT_LOCK_ID = 0x67766F75
MAX_AUDITED_IDS = 200
FIRST_ADMIN_PASSWORD_FILE = "first-admin-password"  # noqa: S105 - a file name


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


async def check_org_unit(
    session: AsyncSession,
    *,
    org_unit_id: uuid.UUID,
    org_path: str,
    except_user: uuid.UUID | None = None,
    against_accounts: bool = True,
) -> None:
    """An account's org unit and org path must name the same unit. Once appraisal has published its
    org tree (``org_unit``), the unit must exist there, undeleted, at that path; before that, the
    pair must agree with every account already registered (one path per unit, one unit per path),
    unless ``against_accounts`` is False (an external issuer's ids need not be ours)."""
    if org_path == logic.ROOT_ORG_PATH or org_unit_id == logic.ROOT_ORG_UNIT_ID:
        if (org_unit_id, org_path) != (logic.ROOT_ORG_UNIT_ID, logic.ROOT_ORG_PATH):
            raise _org_mismatch(f"The platform root {logic.ROOT_ORG_PATH} goes with org unit {logic.ROOT_ORG_UNIT_ID}.")
        return
    if await session.scalar(select(exists().where(OrgUnit.id.is_not(None)))):
        unit = await session.get(OrgUnit, org_unit_id)
        if unit is None or unit.deleted:
            raise Unprocessable(
                "The org unit does not exist.",
                errors=[{"field": "org_unit_id", "message": "no such org unit", "type": "org_unit_unknown"}],
            )
        if unit.org_path != org_path:
            raise _org_mismatch(f"Org unit {org_unit_id} is at {unit.org_path}.")
        return
    if not against_accounts:
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ORG_ASSIGNMENT_LOCK_ID})
    mismatched = ((User.org_unit_id == org_unit_id) & (User.org_path != org_path)) | (
        (User.org_path == org_path) & (User.org_unit_id != org_unit_id)
    )
    user_conflict = select(User.org_unit_id, User.org_path).where(mismatched)
    if except_user is not None:
        user_conflict = user_conflict.where(User.id != except_user)
    client_conflict = select(ApiClient.org_unit_id, ApiClient.org_path).where(
        ((ApiClient.org_unit_id == org_unit_id) & (ApiClient.org_path != org_path))
        | ((ApiClient.org_path == org_path) & (ApiClient.org_unit_id != org_unit_id))
    )
    other = (await session.execute(user_conflict.union_all(client_conflict).limit(1))).first()
    if other is not None:
        if other.org_unit_id == org_unit_id:
            raise _org_mismatch(f"Org unit {org_unit_id} is at {other.org_path} for other accounts.")
        raise _org_mismatch(f"The org path {org_path} belongs to org unit {other.org_unit_id} for other accounts.")


async def apply_org_unit_change(session: AsyncSession, *, change: OrgUnitChanged, changed_at: dt.datetime) -> int:
    """Keep the copy of appraisal's org tree: the unit's state after ``changed_at``, unless a newer
    change of the unit has already been applied (a late redelivery never rolls the copy back).
    Accounts of a unit that moved follow it: their org path changes and their tokens stop working
    (a stale path would be a stale scope). Returns how many accounts moved."""
    values = change.model_dump() | {"changed_at": changed_at}
    insert = pg_insert(OrgUnit).values(**values)
    applied = await session.scalar(
        insert.on_conflict_do_update(
            index_elements=[OrgUnit.id],
            set_={name: insert.excluded[name] for name in values if name != "id"},
            where=OrgUnit.changed_at <= insert.excluded.changed_at,
        ).returning(OrgUnit.id)
    )
    if applied is None or change.deleted:
        return 0
    moved_users = await session.execute(
        update(User)
        .where(User.org_unit_id == change.id, User.org_path != change.org_path)
        .values(
            org_path=change.org_path,
            security_stamp=User.security_stamp + 1,
            lock_version=User.lock_version + 1,
            updated_at=utcnow(),
        )
        .returning(User.id),
        execution_options={"synchronize_session": False},
    )
    user_ids = [str(user_id) for user_id in moved_users.scalars()]
    moved_clients = await session.execute(
        update(ApiClient)
        .where(ApiClient.org_unit_id == change.id, ApiClient.org_path != change.org_path)
        .values(org_path=change.org_path, security_stamp=ApiClient.security_stamp + 1)
        .returning(ApiClient.client_id),
        execution_options={"synchronize_session": False},
    )
    client_ids = list(moved_clients.scalars())
    if user_ids or client_ids:
        await record(
            session,
            actor=None,
            action="org_unit.moved",
            target_type="org_unit",
            target_id=change.id,
            details={
                "org_path": change.org_path,
                "user_count": len(user_ids),
                "client_count": len(client_ids),
                # Bounded: a unit holds tens of accounts, but an audit row must stay small.
                "users": user_ids[:MAX_AUDITED_IDS],
                "clients": client_ids[:MAX_AUDITED_IDS],
            },
        )
    return len(user_ids) + len(client_ids)


def _org_mismatch(detail: str) -> Unprocessable:
    return Unprocessable(
        detail,
        errors=[
            {"field": "org_unit_id", "message": "does not match org_path", "type": "org_unit_mismatch"},
            {"field": "org_path", "message": "does not match org_unit_id", "type": "org_unit_mismatch"},
        ],
    )


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
        logic.check_may_manage_user(principal, target_id=None, org_paths=[data.org_path], roles=data.roles)
    if data.password.lower() == data.username.lower():
        raise Conflict("The password must not be the username.")
    await check_org_unit(session, org_unit_id=data.org_unit_id, org_path=data.org_path)
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
    new_roles = [str(r) for r in data.roles] if data.roles is not None else user.roles
    new_path = data.org_path if data.org_path is not None else user.org_path
    logic.check_may_manage_user(
        principal, target_id=user.id, org_paths=[user.org_path, new_path], roles=[*user.roles, *new_roles]
    )
    new_unit = data.org_unit_id if data.org_unit_id is not None else user.org_unit_id
    if (new_unit, new_path) != (user.org_unit_id, user.org_path):
        await check_org_unit(session, org_unit_id=new_unit, org_path=new_path, except_user=user.id)
    if user.id == _subject_id(principal) and (
        data.disabled or (data.roles is not None and Role.admin in user.roles and Role.admin not in data.roles)
    ):
        raise Conflict("You cannot disable yourself or remove your own admin role.")
    # After the checks: who may not make this change learns that (403/409/422), not the version.
    check_version(user.lock_version, expected_version)
    changes: dict[str, Any] = {}
    for field, value in data.model_dump(exclude_unset=True, exclude={"version", "unlock"}).items():
        value = [str(r) for r in value] if field == "roles" else value
        if value is not None and getattr(user, field) != value:
            changes[field] = {"from": _jsonable(getattr(user, field)), "to": _jsonable(value)}
            setattr(user, field, value)
    if data.unlock:
        cleared = await clear_login_throttles(session, user_id=user.id)
        if cleared or user.locked_until is not None or user.failed_logins:
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
    logic.check_may_manage_user(principal, target_id=user.id, org_paths=[user.org_path], roles=user.roles)
    await set_password(session, user=user, new_password=new_password, passwords=passwords)
    await record(session, actor=principal, action="user.password_reset", target_type="user", target_id=user.id)
    return user


async def change_own_password(session: AsyncSession, *, user: User, new_password: str, passwords: Passwords) -> User:
    """The user (just authenticated with its current password) chooses a new one."""
    if await passwords.verify(user.password_hash, new_password):
        raise Conflict("The new password must differ from the current one.")
    await set_password(session, user=user, new_password=new_password, passwords=passwords)
    actor = Principal(
        subject=str(user.id),
        roles=frozenset(Role(r) for r in user.roles if r in Role.__members__),
        org_unit_id=user.org_unit_id,
        org_path=user.org_path,
    )
    await record(session, actor=actor, action="user.password_changed", target_type="user", target_id=user.id)
    return user


async def set_password(session: AsyncSession, *, user: User, new_password: str, passwords: Passwords) -> None:
    """A new password ends every session and lockout of the account; whoever set it, it is now chosen."""
    if new_password.lower() == user.username:
        raise Conflict("The password must not be the username.")
    user.password_hash = await passwords.hash(new_password)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    user.failed_logins, user.locked_until = 0, None
    user.security_stamp += 1
    user.lock_version += 1
    await clear_login_throttles(session, user_id=user.id)
    await revoke_refresh_tokens(session, user_id=user.id)
    await session.flush()


async def clear_login_throttles(session: AsyncSession, *, user_id: uuid.UUID) -> int:
    result = await session.execute(
        delete(LoginThrottle).where(LoginThrottle.user_id == user_id), execution_options={"synchronize_session": False}
    )
    return int(getattr(result, "rowcount", 0) or 0)


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


def check_configured_admin_password(password: str) -> None:
    """The configured first-admin password obeys the password policy. The error never contains the
    password (a pydantic error would echo it into the startup traceback and the logs)."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise RuntimeError(
            f"GOVPERF_ADMIN_PASSWORD must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        )
    if password.lower() == FIRST_ADMIN_USERNAME:
        raise RuntimeError("GOVPERF_ADMIN_PASSWORD must not be the username")


async def ensure_first_admin(session: AsyncSession, *, password: str | None, passwords: Passwords) -> str | None:
    """On a fresh identity schema, create ``admin`` at ``/``. Returns the password when it was generated
    (then it must be changed before the first token), None when it came from the settings or users
    already exist."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": FIRST_ADMIN_LOCK_ID})
    if await session.scalar(select(exists().where(User.id.is_not(None)))):
        return None
    if password is not None:
        check_configured_admin_password(password)
    generated = None if password else generate_secret()
    data = UserCreate(
        username=FIRST_ADMIN_USERNAME,
        display_name="Administrator",
        password=password or generated,
        roles=[Role.admin],
        org_unit_id=ROOT_ORG_UNIT_ID,
        org_path="/",
    )
    user = await create_user(session, principal=None, data=data, passwords=passwords)
    # Whoever can read where it was written knows it: good for one sign-in, the one that replaces it.
    user.must_change_password = generated is not None
    await session.flush()
    return generated


def first_admin_password_path(settings: Any) -> Path:
    """Next to the development keys (``.govperf/keys/`` under ``make run``), else ``./.govperf/keys/``."""
    key_dir = settings.jwks_file.parent if settings.jwks_file is not None else Path(".govperf/keys")
    return Path(key_dir) / FIRST_ADMIN_PASSWORD_FILE


def write_secret_file(path: Path, secret: str) -> None:
    """Readable by this user only; replaces a stale file of an earlier (since wiped) database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


# --- API clients -------------------------------------------------------------------------


async def create_client(
    session: AsyncSession, *, principal: Principal, data: ClientCreate, passwords: Passwords
) -> tuple[ApiClient, str]:
    """The new client and its secret, which is returned this once and stored only as a hash."""
    logic.check_admin(principal)
    await check_org_unit(session, org_unit_id=data.org_unit_id, org_path=data.org_path)
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


# --- external identities (token exchange) ---------------------------------------------------


async def record_external_identity(
    session: AsyncSession,
    *,
    issuer: str,
    external_subject: str,
    subject: str,
    roles: list[str],
    org_unit_id: uuid.UUID,
    org_path: str,
) -> ExternalIdentity:
    """Insert or refresh the person behind an exchange in one statement (concurrent first exchanges
    of one person cannot collide). When the issuer now says other roles or another unit, the
    security stamp moves on, so govperf tokens minted from the older claims stop working."""
    roles = sorted(roles)
    insert = pg_insert(ExternalIdentity).values(
        id=new_id(),
        issuer=issuer,
        external_subject=external_subject,
        subject=subject,
        roles=roles,
        org_unit_id=org_unit_id,
        org_path=org_path,
        security_stamp=1,
        last_seen_at=utcnow(),
    )
    incoming = insert.excluded
    changed = (
        (ExternalIdentity.roles != incoming.roles)
        | (ExternalIdentity.org_unit_id != incoming.org_unit_id)
        | (ExternalIdentity.org_path != incoming.org_path)
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[ExternalIdentity.subject],
        set_={
            "roles": incoming.roles,
            "org_unit_id": incoming.org_unit_id,
            "org_path": incoming.org_path,
            "last_seen_at": incoming.last_seen_at,
            "security_stamp": case(
                (changed, ExternalIdentity.security_stamp + 1), else_=ExternalIdentity.security_stamp
            ),
        },
    ).returning(ExternalIdentity)
    row: ExternalIdentity | None = await session.scalar(
        select(ExternalIdentity).from_statement(upsert).execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def list_external_identities(
    session: AsyncSession, *, principal: Principal, page: PageParams
) -> tuple[list[ExternalIdentity], str | None]:
    logic.check_admin(principal)
    return await paginate(session, select(ExternalIdentity), ExternalIdentity.id, page)


async def revoke_external_identity(
    session: AsyncSession, *, principal: Principal, identity_id: uuid.UUID
) -> ExternalIdentity:
    """No more exchanges for this person, and its govperf tokens are refused at once."""
    logic.check_admin(principal)
    row = await session.scalar(
        select(ExternalIdentity)
        .where(ExternalIdentity.id == identity_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("No such external identity.")
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = utcnow(), principal.subject
        row.security_stamp += 1
        await session.flush()
        await record(
            session,
            actor=principal,
            action="external_identity.revoked",
            target_type="external_identity",
            target_id=row.subject,
            details={"issuer": row.issuer},
        )
    return row


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
    if kind == "external":
        external_row = (
            await session.execute(
                select(ExternalIdentity.security_stamp, ExternalIdentity.revoked_at).where(
                    ExternalIdentity.subject == subject
                )
            )
        ).first()
        if external_row is None or external_row.revoked_at is not None:
            return None
        return int(external_row.security_stamp)
    return None


# --- startup -----------------------------------------------------------------------------


def passwords_of(app: FastAPI) -> Passwords:
    passwords: Passwords = app.state.passwords
    return passwords


async def start_identity(app: FastAPI) -> None:
    """Startup: the password hasher, and on a fresh schema the first admin. Its password comes from
    GOVPERF_ADMIN_PASSWORD, else it is generated into a file only this user can read (never printed
    or logged: logs are shipped and kept) and must be changed before the admin gets a token."""
    settings = app.state.settings
    passwords = app.state.passwords = Passwords(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    configured = settings.admin_password.get_secret_value() if settings.admin_password else None
    async with app.state.sessionmaker() as session, committing(session):
        generated = await ensure_first_admin(session, password=configured, passwords=passwords)
        if generated is not None:
            # Written before the commit: a failed write leaves no admin whose password nobody knows.
            path = first_admin_password_path(settings)
            write_secret_file(path, generated)
    if generated is not None:
        print(
            f"govperf gateway: created the first admin {FIRST_ADMIN_USERNAME!r}; its one-time password is in "
            f"{path} (readable by this user only). Change it before signing in: POST /api/v1/account/password",
            flush=True,
        )
