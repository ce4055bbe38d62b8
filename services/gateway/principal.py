"""Who is calling the gateway. The shared verifier checks the signature and claims; the gateway then
checks that the user or client behind the token is still allowed: not disabled or revoked, and the
token's ``stamp`` equal to the current security stamp (roles, scope and password unchanged)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from services.gateway.db import read_session
from services.gateway.identity import service as identity
from services.gateway.identity.schemas import ClientRead, UserRead
from services.gateway.identity.service import current_stamp
from services.gateway.keys.service import dev_kids
from shared.auth.deps import authenticate, refuse
from shared.auth.jwt import unverified_header_value
from shared.auth.principal import Principal

DEV_KIDS_CACHE_SECONDS = 5.0


class TokenRefused(Exception):
    """Why a token was refused, for the log only."""


@dataclass(frozen=True)
class AccountState:
    """What the gateway knows of a token's account: the stamp its tokens must carry (None: may not
    call at all) and the account as /api/v1/me shows it."""

    stamp: int | None
    user: UserRead | None = None
    client: ClientRead | None = None


class SecurityStamps:
    """Account states per (kind, subject), trusted for ``ttl`` seconds: a disabled user's tokens stop
    within that time without a database round trip on every request. Changes made through this
    process's admin API take effect at once (``forget``)."""

    MAX_ENTRIES = 100_000

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[tuple[str, str], tuple[AccountState, float]] = {}

    async def state(self, app: FastAPI, kind: str, subject: str) -> AccountState:
        key, now = (kind, subject), time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with read_session(app) as session:
            stamp = await current_stamp(session, kind=kind, subject=subject)
            state = AccountState(stamp)
            if stamp is not None and kind == "user":
                user = await identity.find_user(session, subject=subject)
                state = AccountState(stamp, user=UserRead.model_validate(user) if user else None)
            elif stamp is not None and kind == "client":
                client = await identity.find_client(session, client_id=subject)
                state = AccountState(stamp, client=ClientRead.model_validate(client) if client else None)
        if self._ttl > 0:
            if len(self._entries) >= self.MAX_ENTRIES:
                # Bounded memory, O(1): the oldest entry goes (a cold entry only costs a lookup).
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (state, now + self._ttl)
        return state

    async def current(self, app: FastAPI, kind: str, subject: str) -> int | None:
        return (await self.state(app, kind, subject)).stamp

    def forget(self, kind: str, subject: str) -> None:
        self._entries.pop((kind, subject), None)


def security_stamps(app: FastAPI) -> SecurityStamps:
    stamps: SecurityStamps | None = getattr(app.state, "security_stamps", None)
    if stamps is None:
        stamps = app.state.security_stamps = SecurityStamps(app.state.settings.principal_cache_seconds)
    return stamps


async def _development_kids(app: FastAPI) -> set[str]:
    cached: tuple[set[str], float] | None = getattr(app.state, "dev_kids_cache", None)
    if cached is None or cached[1] < time.monotonic():
        cached = (await dev_kids(app), time.monotonic() + DEV_KIDS_CACHE_SECONDS)
        app.state.dev_kids_cache = cached
    return cached[0]


async def token_kind(app: FastAPI, token: str, claims: dict[str, Any]) -> str:
    """user, client, external or development; raises TokenRefused when the account may not call."""
    return (await token_account(app, token, claims))[0]


async def token_account(app: FastAPI, token: str, claims: dict[str, Any]) -> tuple[str, AccountState | None]:
    """The token's kind and, for users and clients, their account state (TokenRefused: may not call)."""
    # Dev-key tokens (``govperf token``) exist only outside production (dev_kids is empty there)
    # and name no account here, so there is nothing to look up.
    if unverified_header_value(token, "kid") in await _development_kids(app):
        return "development", None
    kind, stamp = claims.get("typ"), claims.get("stamp")
    # External principals are checked like accounts: an admin can revoke them (external_identity).
    if kind not in ("user", "client", "external") or not isinstance(stamp, int):
        raise TokenRefused("token lacks typ/stamp")
    state = await security_stamps(app).state(app, kind, claims["sub"])
    if state.stamp is None:
        raise TokenRefused(f"{kind} {claims['sub']} is disabled, revoked or gone")
    if stamp != state.stamp:
        raise TokenRefused(f"{kind} {claims['sub']} stamp {stamp} is not the current {state.stamp}")
    return str(kind), state


async def gateway_principal(request: Request) -> Principal:
    token, claims, principal = await authenticate(request)
    try:
        request.state.token_kind, request.state.account = await token_account(request.app, token, claims)
    except TokenRefused as exc:
        raise refuse(exc) from None
    return principal


async def optional_principal(request: Request) -> Principal | None:
    """Anonymous callers pass (the services decide what is public); a bad token never does."""
    if "authorization" not in request.headers:
        return None
    return await gateway_principal(request)


GatewayPrincipal = Annotated[Principal, Depends(gateway_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
