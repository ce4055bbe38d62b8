"""Events of the org tree (names are binding once published)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

ORGUNIT_CHANGED = "appraisal.orgunit.changed"


class OrgUnitChanged(BaseModel):
    """The unit as it is now (subject = the unit id): the gateway keeps users' units and paths valid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    code: str
    name: str
    kind: str
    parent_id: uuid.UUID | None
    org_path: str
    peer_group: str
    deleted: bool
