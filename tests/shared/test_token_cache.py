"""The verified-token cache: a token checked once is served from memory, but never past its exp,
never after its key left the key set, and a refusal is never remembered as a success."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from shared.auth.devkeys import DevKeys, generate_private_pem, mint_dev_token
from shared.auth.jwt import KeySet, TokenError, TokenVerifier, VerifiedTokens, public_jwk, sign


def verifier_over(keys: list[dict[str, Any]], **kwargs: Any) -> TokenVerifier:
    async def load() -> list[dict[str, Any]]:
        return list(keys)

    return TokenVerifier(
        KeySet(loader=load, cache_seconds=300), algorithm="ES256", issuer="govperf", audience="govperf", **kwargs
    )


def token(dev_keys: DevKeys, ttl_seconds: int = 600) -> str:
    return mint_dev_token(
        dev_keys,
        subject="cache-test",
        roles=["perf_office"],
        org_unit_id="00000000-0000-7000-8000-000000000001",
        org_path="/gd",
        ttl_seconds=ttl_seconds,
    )


def dev_jwk(dev_keys: DevKeys) -> dict[str, Any]:
    return public_jwk(dev_keys.private_key_pem, "ES256")


async def test_an_expired_token_is_never_served_from_the_cache(dev_keys: DevKeys) -> None:
    verifier = verifier_over([dev_jwk(dev_keys)], cache_seconds=300)
    short = token(dev_keys, ttl_seconds=1)
    claims = await verifier.verify(short)
    assert claims["sub"] == "cache-test" and len(verifier.verified) == 1
    # Past exp (the library itself accepts a token through the second its exp names).
    await asyncio.sleep(max(0.0, claims["exp"] + 1 - time.time()) + 0.05)
    with pytest.raises(TokenError):
        await verifier.verify(short)


async def test_a_withdrawn_key_ends_its_cached_tokens_at_the_next_refresh(dev_keys: DevKeys) -> None:
    keys = [dev_jwk(dev_keys)]
    verifier = verifier_over(keys)
    good = token(dev_keys)
    assert (await verifier.verify(good))["sub"] == "cache-test"
    keys.clear()  # the gateway retired the key (or the JWKS no longer lists it)
    verifier._keys.invalidate()  # what the gateway does after a rotation; elsewhere the cache time
    with pytest.raises(TokenError):
        await verifier.verify(good)


async def test_refusals_are_not_cached_and_a_key_published_later_is_found(dev_keys: DevKeys) -> None:
    keys: list[dict[str, Any]] = []
    verifier = verifier_over(keys)
    good = token(dev_keys)
    for _ in range(2):
        with pytest.raises(TokenError):
            await verifier.verify(good)
    assert len(verifier.verified) == 0
    keys.append(dev_jwk(dev_keys))
    verifier._keys.invalidate()
    assert (await verifier.verify(good))["sub"] == "cache-test"


async def test_a_tampered_copy_of_a_cached_token_is_refused(dev_keys: DevKeys) -> None:
    verifier = verifier_over([dev_jwk(dev_keys)])
    good = token(dev_keys)
    await verifier.verify(good)
    header, payload, signature = good.split(".")
    forged = sign(
        {"sub": "cache-test", "roles": ["admin"], "iss": "govperf", "aud": "govperf", "exp": int(time.time()) + 600},
        generate_private_pem(),
        algorithm="ES256",
        kid=dev_jwk(dev_keys)["kid"],
    )
    for bad in (f"{header}.{payload}.{signature[:-4]}AAAA", forged):
        with pytest.raises(TokenError):
            await verifier.verify(bad)


async def test_claims_handed_out_are_copies(dev_keys: DevKeys) -> None:
    verifier = verifier_over([dev_jwk(dev_keys)])
    good = token(dev_keys)
    (await verifier.verify(good))["roles"] = ["admin"]
    (await verifier.verify(good))["sub"] = "someone-else"
    claims = await verifier.verify(good)
    assert claims["sub"] == "cache-test" and claims["roles"] == ["perf_office"]


async def test_cache_off_still_verifies(dev_keys: DevKeys) -> None:
    verifier = verifier_over([dev_jwk(dev_keys)], cache_seconds=0)
    assert (await verifier.verify(token(dev_keys)))["sub"] == "cache-test"
    assert len(verifier.verified) == 0


def test_the_cache_is_bounded() -> None:
    cache = VerifiedTokens(max_seconds=30, max_entries=3)
    entries = [object() for _ in range(5)]
    for n, entry in enumerate(entries):
        cache.put(bytes([n]), entry)  # type: ignore[arg-type]
    assert len(cache) == 3
    assert cache.get(bytes([0]), now=0.0) is None
