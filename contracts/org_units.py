"""Published contract for `appraisal.orgunit.changed` (producer appraisal_svc, consumer gateway).

One event per change of an org unit (created, renamed, moved, deleted), carrying the unit's whole
state after the change; the aggregate (envelope subject) is the unit id. The gateway keeps a copy of
the tree so that every account's org unit and org path name a unit that exists, at that path.

This module depends on nothing but pydantic and the standard library.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

APPRAISAL_ORGUNIT_CHANGED = "appraisal.orgunit.changed"

# The shape of shared.auth.principal.OrgPath, repeated here because contracts import nothing else.
OrgPathText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=800,
        pattern=r"^/(?:[a-z0-9][a-z0-9_-]{0,62}(?:/[a-z0-9][a-z0-9_-]{0,62}){0,11})?$",
    ),
]


class OrgUnitChanged(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=64)
    parent_id: uuid.UUID | None = None
    org_path: OrgPathText
    deleted: bool = False
