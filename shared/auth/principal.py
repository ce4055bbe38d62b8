"""Who is calling: roles and an org scope (a subtree of the org unit tree)."""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ORG_PATH_RE = re.compile(r"^/(?:[a-z0-9][a-z0-9_-]{0,62}(?:/[a-z0-9][a-z0-9_-]{0,62}){0,11})?$")


def _check_org_path(value: str) -> str:
    if not ORG_PATH_RE.fullmatch(value):
        raise ValueError("org path must look like /province/city/county (lowercase segments)")
    return value


OrgPath = Annotated[str, Field(min_length=1, max_length=800), AfterValidator(_check_org_path)]


class Role(StrEnum):
    admin = "admin"
    perf_office = "perf_office"
    finance = "finance"
    audit = "audit"
    supervision = "supervision"
    legal = "legal"
    department = "department"
    verifier = "verifier"
    expert = "expert"
    investigator = "investigator"
    federation = "federation"


JOINT_MEETING_ROLES = frozenset({Role.finance, Role.audit, Role.supervision, Role.legal})


def path_within(path: str, scope: str) -> bool:
    """True when ``path`` is ``scope`` or lies in its subtree."""
    return scope == "/" or path == scope or path.startswith(scope + "/")


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    subject: str = Field(min_length=1, max_length=200)
    roles: frozenset[Role]
    org_unit_id: uuid.UUID
    org_path: OrgPath

    def has_any(self, roles: frozenset[Role] | set[Role]) -> bool:
        return bool(self.roles & roles)

    def in_scope(self, org_path: str) -> bool:
        return path_within(org_path, self.org_path)
