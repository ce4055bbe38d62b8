"""Rules of the org tree: which kind may sit under which, and how paths are built."""

from __future__ import annotations

from services.appraisal_svc.orgunit.models import ObjectKind, UnitKind

GOVERNMENT_LEVELS = {UnitKind.province: 1, UnitKind.city: 2, UnitKind.county: 3, UnitKind.township: 4}


def parent_problem(kind: UnitKind, parent_kind: UnitKind | None) -> str | None:
    """None when ``kind`` may sit under ``parent_kind`` (None: a root); else why not.

    A deployment may start at any level of government (a city platform has the city as root);
    below it, governments go strictly down a level and departments sit under a government."""
    if parent_kind is None:
        return None if kind in GOVERNMENT_LEVELS else "a department needs a parent government"
    if parent_kind == UnitKind.department:
        return "nothing sits under a department"
    if kind == UnitKind.department:
        return None
    if GOVERNMENT_LEVELS[kind] <= GOVERNMENT_LEVELS[parent_kind]:
        return f"a {kind} cannot sit under a {parent_kind}"
    return None


def child_path(parent_path: str | None, code: str) -> str:
    return f"{parent_path or ''}/{code}"


def parent_path_of(org_path: str) -> str | None:
    head = org_path.rsplit("/", 1)[0]
    return head or None


def default_peer_group(kind: str) -> str:
    """Counties rank among counties, departments among departments, officials among officials."""
    return kind


def object_kind_fits_unit(object_kind: ObjectKind, unit_kind: UnitKind) -> bool:
    """A unit appraised as a whole is a government or a department, matching the unit."""
    if object_kind == ObjectKind.government:
        return unit_kind in GOVERNMENT_LEVELS
    if object_kind == ObjectKind.department:
        return unit_kind == UnitKind.department
    return True
