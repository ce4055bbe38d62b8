"""Signing keys: generated and kept in the identity schema (private half encrypted at rest),
published in the JWKS before they sign, kept there until every token they signed has expired."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from fastapi import FastAPI
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.config import Settings
from services.gateway.db import read_session
from services.gateway.keys.models import SigningKey
from shared.auth.jwt import KeySet, public_jwk
from shared.db import committing, utcnow

log = logging.getLogger("govperf.gateway.keys")

# Serializes rotations across gateway replicas (pg_advisory_xact_lock key; "gvkr").
ROTATION_LOCK_ID = 0x67766B72
CLOCK_SKEW = dt.timedelta(seconds=60)
RING_CACHE_SECONDS = 5.0
DEV_PASSPHRASE_FILE = "gateway-key-passphrase"  # noqa: S105 - a file name


# --- passphrase and PEM encryption -------------------------------------------------------


def dev_passphrase_path(settings: Settings) -> Path:
    """Next to the dev JWKS (``.govperf/keys/`` under ``make run``), else ``./.govperf/keys/``."""
    key_dir = settings.jwks_file.parent if settings.jwks_file is not None else Path(".govperf/keys")
    return key_dir / DEV_PASSPHRASE_FILE


def key_passphrase(settings: Settings) -> bytes:
    """GOVPERF_KEY_PASSPHRASE; required in production. Elsewhere a random one is generated once into
    ``<dev key dir>/gateway-key-passphrase`` (mode 0600), so development needs no setup."""
    if settings.key_passphrase is not None:
        value = settings.key_passphrase.get_secret_value()
        if len(value) < 16:
            raise RuntimeError("GOVPERF_KEY_PASSPHRASE must be at least 16 characters")
        return value.encode()
    if settings.env == "production":
        raise RuntimeError("GOVPERF_KEY_PASSPHRASE is required in production: signing keys are encrypted at rest")
    path = dev_passphrase_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        log.warning("generated a development key passphrase in %s", path)
    return path.read_text().strip().encode()


def generate_private_key(algorithm: str) -> Any:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unsupported algorithm {algorithm}")


# Private keys at rest: scrypt derives an AES-256-GCM key from the passphrase (OWASP's
# N=2^15, r=8, p=3: about 32 MiB and a few hundred milliseconds per derivation, done once per key and
# process); the key id is authenticated data, so a ciphertext cannot be moved to another row.
ENVELOPE_PREFIX = "govperf-key-v2"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 3
# Bounds on what a stored envelope may ask for: a tampered row cannot make startup allocate gigabytes.
MAX_SCRYPT_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 2**20, 16, 16
LEGACY_PEM_PREFIX = "-----BEGIN ENCRYPTED PRIVATE KEY-----"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def encrypt_private_key(private_key: Any, passphrase: bytes, *, kid: str) -> str:
    """``govperf-key-v2$scrypt$<n>$<r>$<p>$<salt>$<nonce>$<ciphertext>`` of the PKCS8 DER."""
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    sealed = AESGCM(key).encrypt(nonce, der, kid.encode())
    fields = [ENVELOPE_PREFIX, "scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P)]
    return "$".join([*fields, _b64(salt), _b64(nonce), _b64(sealed)])


def is_legacy_encryption(stored: str) -> bool:
    """PKCS8 PEM encrypted by ``BestAvailableEncryption`` (PBKDF2 at 2,048 iterations), from before v2."""
    return stored.startswith(LEGACY_PEM_PREFIX)


def decrypt_private_pem(stored: str, passphrase: bytes, *, kid: str) -> str:
    """The unencrypted PKCS8 PEM the signer needs, from a v2 envelope or a legacy encrypted PEM;
    a wrong passphrase or a tampered row raises ValueError."""
    if is_legacy_encryption(stored):
        key = serialization.load_pem_private_key(stored.encode(), password=passphrase)
    else:
        parts = stored.split("$")
        if len(parts) != 8 or parts[0] != ENVELOPE_PREFIX or parts[1] != "scrypt":
            raise ValueError(f"signing key {kid}: unknown encryption format")
        try:
            n, r, p = int(parts[2]), int(parts[3]), int(parts[4])
            salt, nonce, sealed = _unb64(parts[5]), _unb64(parts[6]), _unb64(parts[7])
        except ValueError:
            raise ValueError(f"signing key {kid}: malformed encryption envelope") from None
        if not (2 <= n <= MAX_SCRYPT_N and 1 <= r <= MAX_SCRYPT_R and 1 <= p <= MAX_SCRYPT_P):
            raise ValueError(f"signing key {kid}: scrypt parameters out of bounds")
        try:
            der = AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(nonce, sealed, kid.encode())
        except InvalidTag:
            raise ValueError(f"signing key {kid}: wrong passphrase or tampered key") from None
        key = serialization.load_der_private_key(der, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def reencrypt_legacy_keys(session: AsyncSession, *, passphrase: bytes) -> int:
    """Startup: re-encrypt keys still under the legacy PEM encryption with the v2 envelope (same key,
    same kid, so tokens and JWKS are unaffected). Serialized with rotations across replicas."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ROTATION_LOCK_ID})
    rows = (
        await session.scalars(
            select(SigningKey)
            .where(SigningKey.encrypted_private_pem.startswith(LEGACY_PEM_PREFIX))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    for row in rows:
        pem = await asyncio.to_thread(decrypt_private_pem, row.encrypted_private_pem, passphrase, kid=row.kid)
        private_key = serialization.load_pem_private_key(pem.encode(), password=None)
        row.encrypted_private_pem = await asyncio.to_thread(encrypt_private_key, private_key, passphrase, kid=row.kid)
    await session.flush()
    if rows:
        log.warning("re-encrypted %d signing key(s) from the legacy PBKDF2 format with scrypt", len(rows))
    return len(rows)


# --- lifecycle (pure choices over rows) -----------------------------------------------------


def max_token_lifetime(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=max(settings.access_token_ttl_seconds, settings.client_token_ttl_seconds))


def is_published(key: SigningKey, now: dt.datetime) -> bool:
    return key.publish_until is None or key.publish_until > now


def current_signer(keys: list[SigningKey], now: dt.datetime) -> SigningKey | None:
    """The newest key whose signing window contains ``now``."""
    signing = [k for k in keys if k.activates_at <= now and (k.retires_at is None or k.retires_at > now)]
    return max(signing, key=lambda k: (k.activates_at, k.created_at), default=None)


def rotation_due(keys: list[SigningKey], now: dt.datetime, settings: Settings) -> bool:
    newest = max((k.activates_at for k in keys), default=None)
    return newest is None or newest + dt.timedelta(days=settings.key_rotation_days) <= now


# --- use cases (flush, never commit) ---------------------------------------------------------


async def list_keys(session: AsyncSession) -> list[SigningKey]:
    return list((await session.scalars(select(SigningKey).order_by(SigningKey.activates_at))).all())


async def rotate(
    session: AsyncSession,
    *,
    settings: Settings,
    passphrase: bytes,
    actor: str,
    now: dt.datetime | None = None,
    only_if_due: bool = False,
) -> SigningKey | None:
    """Add a key that signs from ``now + key_publish_ahead_seconds`` (at once when no key signs yet);
    the keys it replaces stop signing then and leave the JWKS when their last token has expired."""
    now = now or utcnow()
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ROTATION_LOCK_ID})
    keys = await list_keys(session)
    if only_if_due and not rotation_due(keys, now, settings):
        return None
    # Services cache the JWKS: a key must be published before any token they see is signed with it.
    ahead = dt.timedelta(seconds=settings.key_publish_ahead_seconds)
    activates_at = now + ahead if current_signer(keys, now) is not None else now
    private_key = generate_private_key(settings.jwt_algorithm)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = public_jwk(pem, settings.jwt_algorithm)
    await session.execute(
        update(SigningKey)
        .where(SigningKey.retires_at.is_(None))
        .values(retires_at=activates_at, publish_until=activates_at + max_token_lifetime(settings) + CLOCK_SKEW)
    )
    # Keys whose every token has expired are deleted: no private key lives longer than it must.
    await session.execute(delete(SigningKey).where(SigningKey.publish_until < now))
    key = SigningKey(
        kid=jwk["kid"],
        algorithm=settings.jwt_algorithm,
        public_jwk=jwk,
        encrypted_private_pem=await asyncio.to_thread(encrypt_private_key, private_key, passphrase, kid=jwk["kid"]),
        activates_at=activates_at,
        created_by=actor,
        created_at=now,
    )
    session.add(key)
    await session.flush()
    log.info("signing key %s created by %s, signs from %s", key.kid, actor, activates_at.isoformat())
    return key


# --- the in-process key ring ---------------------------------------------------------------


@dataclass
class _Snapshot:
    keys: list[SigningKey]
    loaded_at: float


class KeyRing:
    """The gateway's view of its keys: cached a few seconds, decrypted private keys memoized."""

    def __init__(self, app: FastAPI, settings: Settings, passphrase: bytes) -> None:
        self._app, self._settings, self._passphrase = app, settings, passphrase
        self._snapshot: _Snapshot | None = None
        self._decrypted: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._snapshot = None
        key_set: KeySet | None = getattr(self._app.state, "gateway_key_set", None)
        if key_set is not None:
            key_set.invalidate()

    async def keys(self) -> list[SigningKey]:
        snapshot = self._snapshot
        if snapshot is None or time.monotonic() - snapshot.loaded_at > RING_CACHE_SECONDS:
            async with self._lock:
                async with read_session(self._app) as session:
                    rows = await list_keys(session)
                snapshot = self._snapshot = _Snapshot(rows, time.monotonic())
        return snapshot.keys

    async def public_keys(self) -> list[dict[str, Any]]:
        now = utcnow()
        return [dict(k.public_jwk) for k in await self.keys() if is_published(k, now)]

    async def signer(self) -> tuple[str, str]:
        """(kid, private PEM) of the key that signs now."""
        key = current_signer(await self.keys(), utcnow())
        if key is None:
            self.invalidate()
            key = current_signer(await self.keys(), utcnow())
            if key is None:
                raise RuntimeError("no active signing key")
        if key.kid not in self._decrypted:
            self._decrypted[key.kid] = await asyncio.to_thread(
                decrypt_private_pem, key.encrypted_private_pem, self._passphrase, kid=key.kid
            )
        return key.kid, self._decrypted[key.kid]

    async def rotate(self, session: AsyncSession, *, actor: str) -> SigningKey:
        key = await rotate(session, settings=self._settings, passphrase=self._passphrase, actor=actor)
        assert key is not None
        self.invalidate()
        return key

    async def rotate_if_due(self) -> SigningKey | None:
        """In its own committed transaction (startup and the periodic check)."""
        async with self._app.state.sessionmaker() as session, committing(session):
            key = await rotate(
                session, settings=self._settings, passphrase=self._passphrase, actor="system", only_if_due=True
            )
        if key is not None:
            self.invalidate()
        return key


def key_ring(app: FastAPI) -> KeyRing:
    ring: KeyRing = app.state.key_ring
    return ring


async def dev_public_keys(app: FastAPI) -> list[dict[str, Any]]:
    """Outside production the local dev key (``govperf token``) is trusted too."""
    settings = app.state.settings
    if settings.env == "production" or settings.jwks_file is None:
        return []
    # In a worker thread: a file read blocks the event loop (and every request on it).
    return await asyncio.to_thread(_read_jwks_file, settings.jwks_file)


def _read_jwks_file(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    keys: list[dict[str, Any]] = json.loads(path.read_text())["keys"]
    return keys


async def dev_kids(app: FastAPI) -> set[str]:
    return {k["kid"] for k in await dev_public_keys(app) if "kid" in k}


async def published_jwks(app: FastAPI) -> list[dict[str, Any]]:
    """The gateway's own keys (pending, signing and retiring) plus, outside production, the dev key."""
    ring: KeyRing | None = getattr(app.state, "key_ring", None)
    own = await ring.public_keys() if ring is not None else []
    return own + await dev_public_keys(app)


def gateway_key_set(app: FastAPI) -> KeySet:
    async def load() -> list[dict[str, Any]]:
        return await published_jwks(app)

    key_set = KeySet(loader=load, cache_seconds=5)
    app.state.gateway_key_set = key_set
    return key_set


async def start_keys(app: FastAPI) -> None:
    """Startup: refuse to run without a passphrase in production, create the first key or rotate
    an old one, prove the signing key decrypts, then check for rotation periodically."""
    settings: Settings = app.state.settings
    passphrase = key_passphrase(settings)
    ring = app.state.key_ring = KeyRing(app, settings, passphrase)
    try:
        async with app.state.sessionmaker() as session, committing(session):
            await reencrypt_legacy_keys(session, passphrase=passphrase)
    except ValueError as exc:
        raise RuntimeError("cannot decrypt a signing key: wrong GOVPERF_KEY_PASSPHRASE?") from exc
    await ring.rotate_if_due()
    try:
        await ring.signer()
    except ValueError as exc:
        raise RuntimeError("cannot decrypt the signing key: wrong GOVPERF_KEY_PASSPHRASE?") from exc

    async def check_periodically() -> None:
        while True:
            await asyncio.sleep(settings.key_check_interval_seconds)
            try:
                await ring.rotate_if_due()
            except Exception:  # a failed check is retried next interval
                log.exception("key rotation check failed")

    app.state.key_rotation_task = asyncio.create_task(check_periodically(), name="key-rotation")


async def stop_keys(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "key_rotation_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
