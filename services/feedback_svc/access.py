"""Who may do what in feedback_svc: the roles of the feedback loop and org-scope filters."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from shared.auth.principal import Principal, Role
from shared.errors import Forbidden, NotFound

# Everyone who works the loop reads what lies in their scope; experts, investigators and
# federation clients have no business here.
READERS = frozenset(
    {
        Role.admin,
        Role.perf_office,
        Role.finance,
        Role.audit,
        Role.supervision,
        Role.legal,
        Role.department,
        Role.verifier,
    }
)
OFFICE = frozenset({Role.perf_office, Role.admin})
# The appraised unit answers its own cases and tasks; the office may answer on its behalf.
ANSWERERS = frozenset({Role.department, Role.perf_office, Role.admin})
ESCALATORS = frozenset({Role.supervision, Role.admin})
VERIFIERS = frozenset({Role.perf_office, Role.verifier, Role.supervision, Role.audit, Role.admin})


def check_readable(principal: Principal, org_path: str, what: str) -> None:
    """Out of role or out of scope reads as missing: nobody learns what exists elsewhere."""
    if not principal.has_any(READERS) or not principal.in_scope(org_path):
        raise NotFound(f"No such {what}.")


def check_role(principal: Principal, roles: frozenset[Role], action: str) -> None:
    if not principal.has_any(roles):
        names = ", ".join(sorted(r.value for r in roles))
        raise Forbidden(f"Only {names} may {action}.")


def in_subtree(column: InstrumentedAttribute[str], org_path: str) -> Any:
    """SQL twin of ``path_within`` (uses the text_pattern_ops indexes)."""
    if org_path == "/":
        return column.startswith("/")
    # autoescape: "_" is legal in org paths and must not act as a LIKE wildcard.
    return (column == org_path) | column.startswith(org_path + "/", autoescape=True)


def readable_filter(principal: Principal, column: InstrumentedAttribute[str]) -> Any:
    if not principal.has_any(READERS):
        return column.is_(None)  # matches nothing: every row has an org path
    return in_subtree(column, principal.org_path)
