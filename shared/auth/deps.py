"""FastAPI dependencies: verify the bearer token, then check roles."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import ValidationError

from shared.auth.jwt import TokenError, TokenVerifier
from shared.auth.principal import Principal, Role
from shared.errors import BadRequest, Forbidden, Unauthorized

log = logging.getLogger("govperf.auth")


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    known = {r.value for r in Role}
    raw_roles = claims.get("roles")
    if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
        raise TokenError("roles claim must be a list of strings")
    return Principal(
        subject=claims["sub"],
        roles=frozenset(Role(r) for r in raw_roles if r in known),
        org_unit_id=claims.get("org_id"),
        org_path=claims.get("org_path"),
    )


MAX_TOKEN_LENGTH = 8192
GENERIC_REFUSAL = "Invalid or expired token."


def refuse(reason: object) -> Unauthorized:
    """The reason goes to the log only: a client learns nothing that helps forge or replay a token."""
    log.info("token refused: %s", reason)
    return Unauthorized(GENERIC_REFUSAL)


class RepeatedAuthorization(BadRequest):
    """Two Authorization headers: which one counts would depend on who reads them, so neither does."""

    def __init__(self) -> None:
        super().__init__(
            "Send one Authorization header.",
            errors=[{"field": "authorization", "message": "the header is repeated"}],
        )


def authorization_header(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The one Authorization header of an ASGI request, None without one; RepeatedAuthorization
    when there are several. Authentication and rate limiting both read it through here."""
    found: bytes | None = None
    for name, value in headers:
        if len(name) == 13 and name.lower() == b"authorization":
            if found is not None:
                raise RepeatedAuthorization()
            found = value
    return None if found is None else found.decode("latin-1")


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of a ``Bearer`` Authorization header (None for none or another scheme)."""
    scheme, _, token = (authorization_header(headers) or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


# Where the first check of a request keeps what it verified, so later ones in the same request
# (rate limiter, then authentication) do not verify again.
VERIFIED_STATE_KEY = "verified_token"


async def verified_claims(scope: MutableMapping[str, Any], verifier: TokenVerifier, token: str) -> dict[str, Any]:
    """The token's verified claims, checked at most once per request (TokenError when refused)."""
    state = scope.setdefault("state", {})
    known: tuple[str, dict[str, Any]] | None = state.get(VERIFIED_STATE_KEY)
    if known is not None and known[0] == token:
        return known[1]
    claims = await verifier.verify(token)
    state[VERIFIED_STATE_KEY] = (token, claims)
    return claims


# Principals built from verified claims, by token hash: the claims of a token never change, and
# building the pydantic model costs more than the cached verification. Looked up only after the
# token verified again (from the verifier's cache or in full), so an expired token never gets here.
_PRINCIPALS: dict[bytes, Principal] = {}
MAX_CACHED_PRINCIPALS = 10_000


def _principal_of(token: str, claims: dict[str, Any]) -> Principal:
    digest = hashlib.sha256(token.encode()).digest()
    principal = _PRINCIPALS.get(digest)
    if principal is None:
        principal = principal_from_claims(claims)
        if len(_PRINCIPALS) >= MAX_CACHED_PRINCIPALS:
            del _PRINCIPALS[next(iter(_PRINCIPALS))]
        _PRINCIPALS[digest] = principal
    return principal


async def authenticate(request: Request) -> tuple[str, dict[str, Any], Principal]:
    """The bearer token, its verified claims and the principal they name; 401 otherwise."""
    token = bearer_token(request.scope["headers"])
    if token is None or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized()
    verifier: TokenVerifier = request.app.state.verifier
    try:
        claims = await verified_claims(request.scope, verifier, token)
        principal = _principal_of(token, claims)
    except (TokenError, ValidationError, KeyError, ValueError) as exc:
        raise refuse(exc) from None
    request.scope.setdefault("state", {})["subject"] = principal.subject
    return token, claims, principal


async def get_principal(request: Request) -> Principal:
    return (await authenticate(request))[2]


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


ScopeOf = Callable[[Request], str | None]


def require(roles: Iterable[Role], *, scope: ScopeOf | None = None) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting principals that hold any of ``roles`` and, when ``scope`` names the
    org path a request targets (e.g. from a query parameter), whose subtree contains it.
    Resources loaded by id are scope-checked in the service once their org path is known."""
    allowed = frozenset(roles)

    async def dependency(request: Request, principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(allowed):
            raise Forbidden("Your roles do not allow this action.")
        target = scope(request) if scope is not None else None
        if target is not None and not principal.in_scope(target):
            raise Forbidden("The org unit is outside your scope.")
        return principal

    return dependency
