"""Who may manage whom: pure rules over roles and org paths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from shared.auth.principal import Principal, Role, path_within
from shared.errors import Forbidden

USER_MANAGERS = frozenset({Role.admin, Role.perf_office})
# A perf office hands out the roles of its own subtree, never platform-wide powers.
RESERVED_FOR_ADMIN = frozenset({Role.admin, Role.federation})


def is_admin(principal: Principal) -> bool:
    return Role.admin in principal.roles


def may_see_user(principal: Principal, user_org_path: str) -> bool:
    return is_admin(principal) or (Role.perf_office in principal.roles and principal.in_scope(user_org_path))


def check_may_manage_user(principal: Principal, *, org_paths: Iterable[str], roles: Iterable[str]) -> None:
    """Admin manages anyone; a perf office only users wholly inside its scope (before and after the
    change) who hold, and are given, no admin-only role."""
    if is_admin(principal):
        return
    if Role.perf_office not in principal.roles:
        raise Forbidden("Only an admin or the performance office may manage users.")
    if not all(path_within(path, principal.org_path) for path in org_paths):
        raise Forbidden("The user's org unit is outside your scope.")
    if RESERVED_FOR_ADMIN & {Role(r) for r in roles if r in Role.__members__}:
        raise Forbidden("Only an admin may grant or manage the admin and federation roles.")


def check_admin(principal: Principal) -> None:
    if not is_admin(principal):
        raise Forbidden("Only an admin may do this.")


def is_locked(locked_until: dt.datetime | None, now: dt.datetime) -> bool:
    return locked_until is not None and locked_until > now
