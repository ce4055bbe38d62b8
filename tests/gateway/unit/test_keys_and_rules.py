"""Key lifecycle choices, the key passphrase, PEM encryption and who-may-manage-whom rules (no I/O)."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from services.gateway.config import Settings
from services.gateway.identity import logic
from services.gateway.keys.models import SigningKey
from services.gateway.keys.service import (
    current_signer,
    decrypt_private_pem,
    encrypt_private_key,
    generate_private_key,
    is_legacy_encryption,
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


def test_private_keys_are_encrypted_at_rest_with_scrypt_bound_to_their_kid():
    private = generate_private_key("ES256")
    encrypted = encrypt_private_key(private, b"a passphrase of some length", kid="k1")
    prefix, kdf, n, r, p, *_ = encrypted.split("$")
    # A modern KDF: scrypt at OWASP's cost (N=2^15, r=8, p=3), not PBKDF2 at 2,048 iterations.
    assert (prefix, kdf) == ("govperf-key-v2", "scrypt") and int(n) >= 2**15 and int(r) * int(p) >= 24
    assert "BEGIN PRIVATE KEY" in decrypt_private_pem(encrypted, b"a passphrase of some length", kid="k1")
    with pytest.raises(ValueError):
        decrypt_private_pem(encrypted, b"the wrong passphrase......", kid="k1")
    with pytest.raises(ValueError):  # moved to another key's row
        decrypt_private_pem(encrypted, b"a passphrase of some length", kid="k2")
    with pytest.raises(ValueError):  # a tampered row cannot ask for a huge scrypt
        decrypt_private_pem(encrypted.replace(f"${n}$", "$1073741824$"), b"a passphrase of some length", kid="k1")


def test_legacy_pem_encrypted_keys_stay_readable():
    private = generate_private_key("ES256")
    legacy = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase of some length"),
    ).decode()
    assert is_legacy_encryption(legacy)
    pem = decrypt_private_pem(legacy, b"a passphrase of some length", kid="old")
    assert serialization.load_pem_private_key(pem.encode(), password=None).private_numbers() == (
        private.private_numbers()
    )


def principal(*roles: Role, org_path: str = "/gd/sz") -> Principal:
    return Principal(subject="p", roles=frozenset(roles), org_unit_id=uuid.uuid4(), org_path=org_path)


def test_who_may_manage_whom():
    office = principal(Role.perf_office)
    logic.check_may_manage_user(principal(Role.admin, org_path="/"), target_id=None, org_paths=["/x"], roles=["admin"])
    logic.check_may_manage_user(
        office,
        target_id=None,
        org_paths=["/gd/sz/a", "/gd/sz/a/b"],
        roles=["department", "investigator", "perf_office"],
    )
    for paths, roles in (
        (["/gd/szx"], ["department"]),
        (["/gd"], ["department"]),
        (["/gd/sz"], ["department"]),  # a peer of the office's own unit
        (["/gd/sz/a"], ["admin"]),
        (["/gd/sz/a"], ["federation"]),
        *[(["/gd/sz/a"], [role]) for role in ("finance", "audit", "supervision", "legal", "verifier", "expert")],
    ):
        with pytest.raises(Forbidden):
            logic.check_may_manage_user(office, target_id=None, org_paths=paths, roles=roles)
    with pytest.raises(Forbidden):
        logic.check_may_manage_user(principal(Role.department), target_id=None, org_paths=["/gd/sz/a"], roles=[])
    assert not logic.may_see_user(office, "/gd/gz") and logic.may_see_user(office, "/gd/sz/a")


def test_an_office_never_manages_itself_and_grants_no_role_it_lacks():
    me = uuid.uuid4()
    office = Principal(subject=str(me), roles=frozenset({Role.perf_office}), org_unit_id=uuid.uuid4(), org_path="/gd")
    with pytest.raises(Forbidden):
        logic.check_may_manage_user(office, target_id=me, org_paths=["/gd/sz"], roles=["department"])
    office_and_audit = principal(Role.perf_office, Role.audit)
    assert Role.audit not in logic.grantable_roles(office_and_audit)  # held, yet reserved for the admin
    assert logic.grantable_roles(principal(Role.department)) == frozenset()


LOCKOUT = dt.timedelta(minutes=15)


@given(
    max_failures=st.integers(min_value=1, max_value=6),
    gaps=st.lists(st.integers(min_value=0, max_value=2000), min_size=1, max_size=60),
)
def test_no_source_gets_more_than_max_guesses_in_any_lockout_window(max_failures: int, gaps: list[int]):
    """However a guesser spaces its attempts, at most ``max_failures`` of them are ever checked
    within one lockout period, and a lock is never shortened by further guesses."""
    state, now, checked = logic.Throttle(), T0, []
    for gap in gaps:
        now += dt.timedelta(seconds=gap)
        locked_before = state.locked_until if logic.is_locked(state.locked_until, now) else None
        if locked_before is None:
            checked.append(now)
        state = logic.after_failure(state, now, max_failures=max_failures, lockout=LOCKOUT)
        if locked_before is not None:
            assert state.locked_until == locked_before
        assert state.locked_until is None or state.locked_until <= now + LOCKOUT
    for start in checked:
        assert sum(start <= t < start + LOCKOUT for t in checked) <= max_failures


def test_the_max_failures_th_guess_in_a_row_locks_and_old_failures_are_forgotten():
    state = logic.Throttle()
    for i in range(3):
        state = logic.after_failure(state, T0 + dt.timedelta(seconds=i), max_failures=3, lockout=LOCKOUT)
    assert state.locked_until == T0 + dt.timedelta(seconds=2) + LOCKOUT
    typo = logic.after_failure(logic.Throttle(), T0, max_failures=3, lockout=LOCKOUT)
    later = logic.after_failure(typo, T0 + LOCKOUT, max_failures=3, lockout=LOCKOUT)
    assert later.failures == 1 and later.locked_until is None


@pytest.mark.parametrize(
    ("host", "source"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (None, "unknown"),
        ("testclient", "unknown"),
    ],
)
def test_login_sources_group_an_ipv6_subscriber_prefix(host: str | None, source: str):
    assert logic.login_source(host) == source


@given(
    held=st.frozensets(st.sampled_from(list(Role))),
    target=st.lists(st.sampled_from(list(Role)), max_size=4),
)
def test_an_office_never_grants_a_reserved_role_or_one_beyond_its_own(held: frozenset[Role], target: list[Role]):
    """Whatever an office holds, what it may give is staff roles plus its own, never a reserved one;
    and it is refused exactly when the target's roles go beyond that."""
    office = principal(Role.perf_office, *held)
    if Role.admin in office.roles:
        return  # an admin manages everyone
    grantable = logic.grantable_roles(office)
    assert not grantable & logic.ADMIN_GRANTED
    assert grantable <= logic.OFFICE_GRANTED | office.roles
    try:
        logic.check_may_manage_user(office, target_id=None, org_paths=["/gd/sz/a"], roles=target)
        allowed = True
    except Forbidden:
        allowed = False
    assert allowed == (set(target) <= grantable)
