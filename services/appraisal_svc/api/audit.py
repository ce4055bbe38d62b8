"""REST routes of the tamper-evident log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.appraisal_svc.access import AUDIT_READERS, require_role
from services.appraisal_svc.audit import service as audit
from shared.auth.deps import CurrentPrincipal

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditVerification(BaseModel):
    valid: bool
    entries: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None
    problem: str | None


@router.get("/audit/verification", response_model=AuditVerification)
async def verify_audit_log(request: Request, principal: CurrentPrincipal) -> AuditVerification:
    """Recompute the whole chain; name the first entry that was edited, deleted, inserted or moved."""
    require_role(principal, AUDIT_READERS, "verify the audit log")
    async with request.app.state.engine.connect() as conn:
        result = await audit.verify(conn)
    return AuditVerification(**result.__dict__)
