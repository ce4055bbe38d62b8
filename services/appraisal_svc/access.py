"""Who may do what in appraisal_svc: roles per action, and the org-scope test in SQL.

Every resource belongs to an org path (a unit's, or its object's unit's). A principal acts on it
only with the right role *and* the path inside its scope; out of scope is reported as missing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, literal

from shared.auth.principal import Principal, Role
from shared.errors import Forbidden

ADMIN = frozenset({Role.admin})
OFFICE = frozenset({Role.admin, Role.perf_office})
# Joint-meeting units and the appraised read what is in their scope.
READERS = frozenset(
    {
        Role.admin,
        Role.perf_office,
        Role.department,
        Role.verifier,
        Role.audit,
        Role.finance,
        Role.supervision,
        Role.legal,
    }
)
SUBMITTERS = frozenset({Role.admin, Role.perf_office, Role.department})
AUTHORITATIVE_SUBMITTERS = frozenset({Role.admin, Role.federation})
VERIFIERS = frozenset({Role.verifier})
DECIDERS = frozenset({Role.admin, Role.perf_office})
REJECTERS = frozenset({Role.admin, Role.perf_office, Role.verifier})
FLAGGERS = frozenset({Role.admin, Role.audit})
FLAG_RESOLVERS = frozenset({Role.admin, Role.perf_office})
CONFIRMERS = frozenset({Role.admin, Role.department})
AUDIT_READERS = frozenset({Role.admin, Role.audit})


def require_role(principal: Principal, roles: frozenset[Role], action: str) -> None:
    if not principal.has_any(roles):
        raise Forbidden(f"Your roles do not allow you to {action}.")


def in_subtree(column: Any, org_path: str) -> ColumnElement[bool]:
    """SQL twin of ``path_within``: the path itself or anything below it (LIKE-escaped)."""
    if org_path == "/":
        return literal(True)
    within: ColumnElement[bool] = (column == org_path) | column.startswith(org_path + "/", autoescape=True)
    return within
