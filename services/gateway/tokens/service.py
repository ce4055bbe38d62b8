"""The OAuth2 grants: check who is asking, then mint an access token (and a refresh token for people).
They flush; the token route commits, also when it answers with an error (lockout counters, revocations)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.config import ExternalIssuer, Settings
from services.gateway.identity import logic as identity_logic
from services.gateway.identity.models import ApiClient, LoginThrottle, User
from services.gateway.identity.passwords import Passwords
from services.gateway.identity.service import check_org_unit, record_external_identity
from services.gateway.keys.service import KeyRing
from services.gateway.tokens import errors
from services.gateway.tokens.logic import Grant, access_token_claims, new_refresh_token, refresh_token_hash
from services.gateway.tokens.models import RefreshToken
from shared.auth.jwt import KeySet, TokenError, TokenVerifier, sign, unverified_claim
from shared.auth.principal import OrgPath, path_within
from shared.db import utcnow
from shared.errors import Unprocessable
from shared.ids import new_id

log = logging.getLogger("govperf.gateway.tokens")
ORG_PATH = TypeAdapter(OrgPath)
MAX_SUBJECT_LENGTH = 200


def user_grant(user: User) -> Grant:
    return Grant(
        subject=str(user.id),
        kind="user",
        roles=tuple(user.roles),
        org_unit_id=user.org_unit_id,
        org_path=user.org_path,
        stamp=user.security_stamp,
    )


def client_grant(client: ApiClient) -> Grant:
    return Grant(
        subject=client.client_id,
        kind="client",
        roles=tuple(client.roles),
        org_unit_id=client.org_unit_id,
        org_path=client.org_path,
        stamp=client.security_stamp,
    )


async def mint_access_token(ring: KeyRing, grant: Grant, *, settings: Settings, lifetime: int) -> str:
    kid, private_pem = await ring.signer()
    claims = access_token_claims(
        grant, issuer=settings.jwt_issuer, audience=settings.jwt_audience, now=int(time.time()), lifetime=lifetime
    )
    return sign(claims, private_pem, algorithm=settings.jwt_algorithm, kid=kid)


# --- password ----------------------------------------------------------------------------


async def authenticate_user(
    session: AsyncSession, *, settings: Settings, passwords: Passwords, username: str, password: str, source: str
) -> User:
    """The user, or ``invalid_grant`` for every kind of failure. ``max_failed_logins`` wrong passwords
    in a row from one ``source`` (see ``identity.logic.login_source``) lock that source out of this
    account for ``lockout_seconds``; the owner signing in from elsewhere is not affected."""
    user = await session.scalar(select(User).where(User.username == username.lower()))
    # Always pay for one argon2 verification, so the answer time does not tell which case this is;
    # it runs before the row lock, so concurrent logins of one account hash in parallel.
    password_ok = await passwords.verify(user.password_hash if user else None, password)
    if user is None:
        raise errors.invalid_credentials()
    # Decide holding the account's row lock: concurrent guesses queue here, and each one sees the
    # counters the previous one wrote (populate_existing: never a cached copy).
    user = await session.scalar(
        select(User).where(User.id == user.id).with_for_update().execution_options(populate_existing=True)
    )
    if user is None or user.disabled:
        raise errors.invalid_credentials()
    now = utcnow()
    throttle = await session.get(LoginThrottle, (user.id, source), populate_existing=True)
    state = identity_logic.Throttle(
        failures=throttle.failures if throttle else 0,
        last_failure_at=throttle.last_failure_at if throttle else None,
        locked_until=throttle.locked_until if throttle else None,
    )
    if identity_logic.is_locked(state.locked_until, now):
        raise errors.invalid_credentials()
    if not password_ok:
        after = identity_logic.after_failure(
            state,
            now,
            max_failures=settings.max_failed_logins,
            lockout=dt.timedelta(seconds=settings.lockout_seconds),
        )
        if throttle is None:
            throttle = LoginThrottle(user_id=user.id, source=source)
            session.add(throttle)
        throttle.failures, throttle.last_failure_at, throttle.locked_until = (
            after.failures,
            after.last_failure_at or now,
            after.locked_until,
        )
        user.failed_logins += 1
        # Sources whose failures are forgotten and whose lock has run out are dead weight: pruned here,
        # so a guesser rotating addresses leaves at most one window's worth of rows per account.
        window_start = now - dt.timedelta(seconds=settings.lockout_seconds)
        await session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.user_id == user.id,
                LoginThrottle.source != source,
                LoginThrottle.last_failure_at < window_start,
                (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until <= now),
            ),
            execution_options={"synchronize_session": False},
        )
        if after.locked_until is not None:
            user.locked_until = after.locked_until
            log.warning("login of user %s locked for source %s until %s", user.id, source, after.locked_until)
        await session.flush()
        raise errors.invalid_credentials()
    if throttle is not None:
        await session.delete(throttle)
    user.failed_logins, user.last_login_at = 0, now
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    await session.flush()
    return user


async def issue_refresh_token(
    session: AsyncSession,
    *,
    settings: Settings,
    user_id: uuid.UUID,
    family_id: uuid.UUID | None = None,
    family_ends_at: dt.datetime | None = None,
) -> str:
    token = new_refresh_token()
    expires_at = utcnow() + dt.timedelta(seconds=settings.refresh_token_ttl_seconds)
    session.add(
        RefreshToken(
            token_hash=refresh_token_hash(token),
            family_id=family_id or new_id(),
            user_id=user_id,
            expires_at=min(expires_at, family_ends_at) if family_ends_at else expires_at,
        )
    )
    await session.flush()
    return token


# --- refresh -----------------------------------------------------------------------------


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


async def rotate_refresh_token(session: AsyncSession, *, settings: Settings, token: str) -> tuple[User, str]:
    """Trade a refresh token for a new one of the same family. Presenting an already rotated token
    means it was copied: the whole family is revoked (RFC 9700 4.14.2)."""
    stored = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == refresh_token_hash(token))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    now = utcnow()
    if stored is None:
        raise errors.invalid_refresh_token()
    if stored.rotated_at is not None:
        log.warning("refresh token reuse detected; revoking family %s of user %s", stored.family_id, stored.user_id)
        await revoke_family(session, stored.family_id)
        raise errors.invalid_refresh_token()
    if stored.revoked_at is not None or stored.expires_at <= now:
        raise errors.invalid_refresh_token()
    family_started = await session.scalar(
        select(func.min(RefreshToken.created_at)).where(RefreshToken.family_id == stored.family_id)
    )
    family_ends_at = (family_started or now) + dt.timedelta(seconds=settings.refresh_family_max_seconds)
    if family_ends_at <= now:
        raise errors.invalid_refresh_token()
    user = await session.get(User, stored.user_id, populate_existing=True)
    if user is None or user.disabled:
        raise errors.invalid_refresh_token()
    stored.rotated_at = now
    await session.flush()
    successor = await issue_refresh_token(
        session, settings=settings, user_id=user.id, family_id=stored.family_id, family_ends_at=family_ends_at
    )
    return user, successor


async def revoke_token(session: AsyncSession, *, token: str) -> None:
    """RFC 7009: revoking a refresh token ends its whole family; unknown tokens are silently accepted."""
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == refresh_token_hash(token)))
    if stored is not None:
        await revoke_family(session, stored.family_id)


# --- client credentials ------------------------------------------------------------------


async def authenticate_client(
    session: AsyncSession, *, passwords: Passwords, client_id: str, client_secret: str, basic: bool
) -> ApiClient:
    client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    secret_ok = await passwords.verify(client.secret_hash if client else None, client_secret)
    if client is None or not secret_ok or client.revoked_at is not None:
        raise errors.invalid_client(basic=basic)
    return client


# --- token exchange (external OIDC issuer) -------------------------------------------------


def external_verifiers(settings: Settings) -> dict[str, tuple[ExternalIssuer, TokenVerifier]]:
    """One verifier per configured issuer; ``file://`` JWKS URLs are read from disk (air-gapped setups)."""
    verifiers = {}
    for issuer in settings.oidc_issuers:
        if issuer.jwks_url.startswith("file://"):
            keys = KeySet(path=Path(issuer.jwks_url.removeprefix("file://")), cache_seconds=300)
        else:
            keys = KeySet(url=issuer.jwks_url, cache_seconds=300)
        verifiers[issuer.issuer] = (
            issuer,
            TokenVerifier(keys, algorithm=issuer.algorithm, issuer=issuer.issuer, audience=issuer.audience),
        )
    return verifiers


async def exchange_external_token(
    session: AsyncSession, verifiers: dict[str, tuple[ExternalIssuer, TokenVerifier]], subject_token: str
) -> tuple[Grant, int]:
    """A govperf grant for a verified external token, and the external token's expiry (ours never
    outlives it). Only roles the issuer maps and allows pass, only inside the issuer's subtree, and
    never for a person an admin has revoked."""
    iss = unverified_claim(subject_token, "iss")
    # The unverified ``iss`` only picks the verifier; that verifier then checks it along with everything else.
    entry = verifiers.get(iss) if isinstance(iss, str) else None
    if entry is None:
        raise errors.OAuthError("invalid_grant", "The subject token is not from a trusted issuer.")
    issuer, verifier = entry
    try:
        claims = await verifier.verify(subject_token)
    except TokenError as exc:
        log.info("external token refused: %s", exc)
        raise errors.OAuthError("invalid_grant", "The subject token is invalid or expired.") from None
    grant = external_grant(issuer, claims)
    try:
        # Against the org tree once appraisal has published it; until then the issuer's unit ids stand.
        await check_org_unit(session, org_unit_id=grant.org_unit_id, org_path=grant.org_path, against_accounts=False)
    except Unprocessable as exc:
        raise errors.OAuthError("invalid_grant", f"The subject token's org unit is refused: {exc.detail}") from None
    person = await record_external_identity(
        session,
        issuer=issuer.subject_namespace,
        external_subject=str(claims["sub"]),
        subject=grant.subject,
        roles=list(grant.roles),
        org_unit_id=grant.org_unit_id,
        org_path=grant.org_path,
    )
    if person.revoked_at is not None:
        raise errors.OAuthError("invalid_grant", "This external identity has been revoked.")
    return dataclasses.replace(grant, stamp=person.security_stamp), int(claims["exp"])


def external_grant(issuer: ExternalIssuer, claims: dict[str, Any]) -> Grant:
    """The grant an external token's claims justify (stamp still 0), or ``invalid_grant``."""
    raw_roles = claims.get(issuer.roles_claim, [])
    if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
        raise errors.OAuthError("invalid_grant", f"The subject token's {issuer.roles_claim!r} claim must be a list.")
    allowed = set(issuer.allowed_roles)
    roles = {issuer.role_map[r] for r in raw_roles if r in issuer.role_map} & allowed
    if not roles:
        raise errors.OAuthError("invalid_grant", "The subject token carries no role mapped to govperf.")
    external_subject = claims.get("sub")
    if not isinstance(external_subject, str) or not external_subject:
        raise errors.OAuthError("invalid_grant", "The subject token has no subject.")
    # External identities are namespaced by issuer: no outside issuer can name a local user's id
    # or another issuer's person.
    subject = f"ext:{issuer.subject_namespace}:{external_subject}"
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise errors.OAuthError("invalid_grant", "The subject token's subject is too long.")
    try:
        org_unit_id = uuid.UUID(str(claims.get(issuer.org_unit_claim)))
        org_path = ORG_PATH.validate_python(claims.get(issuer.org_path_claim))
    except (ValueError, ValidationError):
        raise errors.OAuthError("invalid_grant", "The subject token has no valid org unit and org path.") from None
    if not path_within(org_path, issuer.org_subtree):
        raise errors.OAuthError("invalid_grant", "The subject token's org path is outside its issuer's subtree.")
    return Grant(
        subject=subject,
        kind="external",
        roles=tuple(sorted(str(r) for r in roles)),
        org_unit_id=org_unit_id,
        org_path=org_path,
        stamp=0,
    )
