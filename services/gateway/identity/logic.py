"""Who may manage whom, and login throttling: pure rules over roles, org paths and counters."""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from shared.auth.principal import JOINT_MEETING_ROLES, Principal, Role, path_within
from shared.errors import Forbidden

USER_MANAGERS = frozenset({Role.admin, Role.perf_office})
# Only an admin grants these or manages an account holding one: platform-wide powers, the
# joint-meeting member units that oversee the performance office, and the independent verifiers
# and experts whose judgement the office must not control.
ADMIN_GRANTED = frozenset({Role.admin, Role.federation, *JOINT_MEETING_ROLES, Role.verifier, Role.expert})
# Staff roles of an office's own subtree, which it hands out without holding them itself.
OFFICE_GRANTED = frozenset({Role.department, Role.investigator})
# The platform root is no org unit of appraisal's tree: only the first admin's accounts sit there.
ROOT_ORG_PATH = "/"
ROOT_ORG_UNIT_ID = uuid.UUID("00000000-0000-7000-8000-000000000000")


def is_admin(principal: Principal) -> bool:
    return Role.admin in principal.roles


def may_see_user(principal: Principal, user_org_path: str) -> bool:
    return is_admin(principal) or (Role.perf_office in principal.roles and principal.in_scope(user_org_path))


def strictly_below(path: str, scope: str) -> bool:
    """True when ``path`` lies in ``scope``'s subtree but is not ``scope`` itself (no peers)."""
    return path != scope and path_within(path, scope)


def grantable_roles(principal: Principal) -> frozenset[Role]:
    """Roles ``principal`` may give: every one for an admin; for a performance office its subtree's
    staff roles and those it holds itself, never one reserved for the admin."""
    if is_admin(principal):
        return frozenset(Role)
    if Role.perf_office not in principal.roles:
        return frozenset()
    return OFFICE_GRANTED | (principal.roles - ADMIN_GRANTED)


def check_may_manage_user(
    principal: Principal, *, target_id: uuid.UUID | None, org_paths: Iterable[str], roles: Iterable[str]
) -> None:
    """Admin manages anyone. A performance office manages only other accounts strictly below its own
    unit (before and after the change) that hold, and are given, only roles it may grant."""
    if is_admin(principal):
        return
    if Role.perf_office not in principal.roles:
        raise Forbidden("Only an admin or the performance office may manage users.")
    if target_id is not None and str(target_id) == principal.subject:
        raise Forbidden("You cannot change your own account here; an admin can.")
    if not all(strictly_below(path, principal.org_path) for path in org_paths):
        raise Forbidden("The user's org unit must lie strictly below your own unit.")
    beyond = {str(r) for r in roles} - {str(r) for r in grantable_roles(principal)}
    if beyond:
        raise Forbidden(f"Only an admin may grant, or manage users holding, the roles: {', '.join(sorted(beyond))}.")


def check_admin(principal: Principal) -> None:
    if not is_admin(principal):
        raise Forbidden("Only an admin may do this.")


def is_locked(locked_until: dt.datetime | None, now: dt.datetime) -> bool:
    return locked_until is not None and locked_until > now


# --- login throttling ------------------------------------------------------------------------


def login_source(host: str | None) -> str:
    """The address a lockout applies to: an IPv4 address, or an IPv6 /64 (one subscriber holds a
    whole /64, so single addresses would give a guesser endless fresh counters)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class Throttle:
    """Wrong passwords from one source for one account."""

    failures: int = 0
    last_failure_at: dt.datetime | None = None
    locked_until: dt.datetime | None = None


def after_failure(state: Throttle, now: dt.datetime, *, max_failures: int, lockout: dt.timedelta) -> Throttle:
    """The state after one more wrong password. Failures older than ``lockout`` are forgotten, so a
    few typos a month never add up to a lock; the ``max_failures``-th in a row locks for ``lockout``."""
    if is_locked(state.locked_until, now):
        return state  # refused without counting: a lock is never extended by the guesser
    recent = state.last_failure_at is not None and now - state.last_failure_at < lockout
    failures = (state.failures if recent else 0) + 1
    if failures >= max_failures:
        return Throttle(failures=0, last_failure_at=now, locked_until=now + lockout)
    return Throttle(failures=failures, last_failure_at=now, locked_until=None)
