"""Events of the org tree (names are binding once published). The payload is the published
contract shared with the gateway, which keeps users' units and paths valid."""

from __future__ import annotations

from contracts.org_units import APPRAISAL_ORGUNIT_CHANGED as ORGUNIT_CHANGED
from contracts.org_units import OrgUnitChanged

__all__ = ["ORGUNIT_CHANGED", "OrgUnitChanged"]
