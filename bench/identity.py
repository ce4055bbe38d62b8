"""identity: what the identity hardening costs. Signing-key unwrap with the legacy PBKDF2 (2,048
iterations) next to scrypt (N=2^15, r=8, p=3), and password-grant logins through the in-process
gateway (production argon2 cost) for many accounts next to one account under its row lock."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete

from services.gateway.app import create_app
from services.gateway.config import Settings
from services.gateway.identity import service as identity
from services.gateway.identity.models import User
from services.gateway.identity.schemas import UserCreate
from services.gateway.keys.service import decrypt_private_pem, encrypt_private_key, generate_private_key
from shared.auth.devkeys import ensure_dev_keys
from shared.db import committing
from shared.migrations import upgrade
from shared.stack import get_service
from shared.testing.plugin import client_for, started

PASSPHRASE = b"a bench passphrase of some length"
PASSWORD = "a bench password, long enough"


def key_unwrap(rounds: int) -> dict[str, float]:
    """Median seconds to decrypt one private key, each format, interleaved in the same run."""
    private = generate_private_key("ES256")
    legacy = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(PASSPHRASE)
    ).decode()
    modern = encrypt_private_key(private, PASSPHRASE, kid="bench")
    legacy_s, modern_s = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        decrypt_private_pem(legacy, PASSPHRASE, kid="bench")
        legacy_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        decrypt_private_pem(modern, PASSPHRASE, kid="bench")
        modern_s.append(time.perf_counter() - t)
    return {
        "legacy_pbkdf2_2048_ms": statistics.median(legacy_s) * 1000,
        "scrypt_ms": statistics.median(modern_s) * 1000,
    }


async def logins(database_url: str, nats_url: str, data_dir: Path, count: int, concurrency: int) -> dict[str, Any]:
    keys = ensure_dev_keys(data_dir / "keys")
    settings = Settings(
        env="test",
        database_url=database_url,
        nats_url=nats_url,
        jwks_file=keys.jwks_path,
        run_relay=False,
        run_consumers=False,
        admin_password="bench admin password",
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=1_000_000,
        token_rate_limit_per_minute=1_000_000,
    )
    await asyncio.to_thread(upgrade, get_service("gateway"), database_url)
    app = create_app(settings)
    async for running in started(app):
        passwords = identity.passwords_of(running)
        tag = uuid.uuid4().hex[:6]
        names = [f"bench{tag}{i}" for i in range(concurrency)]
        async with running.state.sessionmaker() as session, committing(session):
            for name in names:
                data = UserCreate(
                    username=name,
                    display_name=name,
                    password=PASSWORD,
                    roles=["department"],
                    org_unit_id=uuid.uuid5(uuid.NAMESPACE_URL, "bench:/bench"),
                    org_path="/bench",
                )
                await identity.create_user(session, principal=None, data=data, passwords=passwords)
        figures: dict[str, Any] = {}
        async with client_for(running) as client:

            async def run(usernames: list[str]) -> dict[str, float]:
                latencies: list[float] = []
                queue = iter(range(count))

                async def worker(username: str) -> None:
                    for _ in queue:
                        t = time.perf_counter()
                        r = await client.post(
                            "/oauth/token", data={"grant_type": "password", "username": username, "password": PASSWORD}
                        )
                        latencies.append(time.perf_counter() - t)
                        if r.status_code != 200:
                            raise RuntimeError(f"login failed: {r.status_code} {r.text[:200]}")

                t0 = time.perf_counter()
                await asyncio.gather(*(worker(u) for u in usernames))
                elapsed = time.perf_counter() - t0
                ordered = sorted(latencies)
                return {
                    "logins_per_s": len(ordered) / elapsed,
                    "median_ms": statistics.median(ordered) * 1000,
                    "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
                }

            # Interleaved halves, so machine load hits both shapes alike.
            for label, usernames in (("distinct_accounts", names), ("one_account", [names[0]] * concurrency)) * 2:
                result = await run(usernames)
                for key, value in result.items():
                    figures.setdefault(label, {}).setdefault(key, []).append(value)
        async with running.state.sessionmaker() as session, committing(session):
            await session.execute(delete(User).where(User.username.in_(names)))
    return {
        label: {key: statistics.median(values) for key, values in shape.items()} for label, shape in figures.items()
    } | {"logins_per_run": count, "concurrency": concurrency}


def run(database_url: str, nats_url: str, data_dir: Path, *, count: int, concurrency: int) -> dict[str, Any]:
    return {
        "key_unwrap": key_unwrap(rounds=5),
        "password_grant": asyncio.run(logins(database_url, nats_url, data_dir, count, concurrency)),
    }
