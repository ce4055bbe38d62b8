"""Who is calling the gateway. The shared verifier checks the signature and claims; the
gateway also checks that the user or client behind the token is still allowed (see identity)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.auth.deps import get_principal
from shared.auth.principal import Principal


async def gateway_principal(request: Request) -> Principal:
    return await get_principal(request)


async def optional_principal(request: Request) -> Principal | None:
    """Anonymous callers pass (the services decide what is public); a bad token never does."""
    if "authorization" not in request.headers:
        return None
    return await gateway_principal(request)


GatewayPrincipal = Annotated[Principal, Depends(gateway_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
