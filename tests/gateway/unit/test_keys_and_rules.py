"""Key lifecycle choices, the key passphrase, PEM encryption and who-may-manage-whom rules (no I/O)."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from pydantic import SecretStr

from services.gateway.config import Settings
from services.gateway.identity import logic
from services.gateway.keys.models import SigningKey
from services.gateway.keys.service import (
    current_signer,
    decrypt_private_pem,
    encrypt_private_key,
    generate_private_key,
    is_published,
    key_passphrase,
    rotation_due,
)
from shared.auth.principal import Principal, Role
from shared.errors import Forbidden

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(minutes: int | None) -> dt.datetime | None:
    return None if minutes is None else T0 + dt.timedelta(minutes=minutes)


def key(kid: str, activates: int, retires: int | None = None, publish_until: int | None = None) -> SigningKey:
    return SigningKey(
        kid=kid, activates_at=at(activates), retires_at=at(retires), publish_until=at(publish_until), created_at=T0
    )


def test_signer_is_the_newest_active_key_and_retired_keys_leave_the_jwks_later():
    old, new = key("old", 0, retires=60, publish_until=80), key("new", 60)
    assert current_signer([old, new], T0 + dt.timedelta(minutes=59)) is old  # new is only published
    assert current_signer([old, new], T0 + dt.timedelta(minutes=60)) is new
    assert is_published(old, T0 + dt.timedelta(minutes=79)) and not is_published(old, T0 + dt.timedelta(minutes=80))
    assert current_signer([], T0) is None


def test_rotation_is_due_after_the_configured_days():
    settings = Settings(key_rotation_days=30)
    assert rotation_due([], T0, settings)
    assert not rotation_due([key("k", 0)], T0 + dt.timedelta(days=29), settings)
    assert rotation_due([key("k", 0)], T0 + dt.timedelta(days=30), settings)


def test_production_without_passphrase_refuses_and_development_generates_one(tmp_path):
    with pytest.raises(RuntimeError, match="required in production"):
        key_passphrase(Settings(env="production"))
    with pytest.raises(RuntimeError, match="at least 16"):
        key_passphrase(Settings(env="production", key_passphrase=SecretStr("short")))
    dev = Settings(env="development", jwks_file=tmp_path / "keys" / "jwks.json")
    first = key_passphrase(dev)
    assert first == key_passphrase(dev) and len(first) >= 32
    path = tmp_path / "keys" / "gateway-key-passphrase"
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_private_keys_are_encrypted_at_rest():
    private = generate_private_key("ES256")
    encrypted = encrypt_private_key(private, b"a passphrase of some length")
    assert "ENCRYPTED PRIVATE KEY" in encrypted
    assert "BEGIN PRIVATE KEY" in decrypt_private_pem(encrypted, b"a passphrase of some length")
    with pytest.raises(ValueError):
        decrypt_private_pem(encrypted, b"the wrong passphrase......")


def principal(*roles: Role, org_path: str = "/gd/sz") -> Principal:
    return Principal(subject="p", roles=frozenset(roles), org_unit_id=uuid.uuid4(), org_path=org_path)


def test_who_may_manage_whom():
    office = principal(Role.perf_office)
    logic.check_may_manage_user(principal(Role.admin, org_path="/"), org_paths=["/x"], roles=["admin"])
    logic.check_may_manage_user(office, org_paths=["/gd/sz", "/gd/sz/a"], roles=["department", "perf_office"])
    for paths, roles in (
        (["/gd/szx"], ["department"]),
        (["/gd"], ["department"]),
        (["/gd/sz/a"], ["admin"]),
        (["/gd/sz/a"], ["federation"]),
    ):
        with pytest.raises(Forbidden):
            logic.check_may_manage_user(office, org_paths=paths, roles=roles)
    with pytest.raises(Forbidden):
        logic.check_may_manage_user(principal(Role.department), org_paths=["/gd/sz"], roles=["department"])
    assert not logic.may_see_user(office, "/gd/gz") and logic.may_see_user(office, "/gd/sz/a")
