"""Development signing key and tokens (refused outside GOVPERF_ENV=development by the CLI)."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.auth.jwt import public_jwk, sign

DEV_ALGORITHM = "ES256"
DEMO_ORG_UNIT_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")


@dataclass(frozen=True)
class DevKeys:
    private_key_pem: str
    kid: str
    jwks_path: Path


def generate_private_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def ensure_dev_keys(key_dir: Path) -> DevKeys:
    """Create (once) an ES256 key in ``key_dir`` and the JWKS the services verify with."""
    key_dir.mkdir(parents=True, exist_ok=True)
    private_path, jwks_path = key_dir / "dev-signing-key.pem", key_dir / "jwks.json"
    if not private_path.exists():
        private_path.write_text(generate_private_pem())
        os.chmod(private_path, 0o600)
    pem = private_path.read_text()
    public = public_jwk(pem, DEV_ALGORITHM)
    jwks_path.write_text(json.dumps({"keys": [public]}, indent=2))
    return DevKeys(private_key_pem=pem, kid=public["kid"], jwks_path=jwks_path)


def mint_dev_token(
    keys: DevKeys,
    *,
    subject: str,
    roles: list[str],
    org_unit_id: str,
    org_path: str,
    ttl_seconds: int = 3600,
    issuer: str = "govperf",
    audience: str = "govperf",
) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "roles": roles,
        "org_id": org_unit_id,
        "org_path": org_path,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    return sign(claims, keys.private_key_pem, algorithm=DEV_ALGORITHM, kid=keys.kid)
