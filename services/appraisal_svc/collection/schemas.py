"""API models of data collection and verification."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.appraisal_svc.numbers import PlainDecimal
from shared.pagination import Page

MAX_BULK_ROWS = 100_000
Measure = Annotated[Decimal, Field(ge=-(10**12), le=10**12, decimal_places=6, allow_inf_nan=False)]
Metric = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Period = Annotated[
    str, Field(pattern=r"^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2])|-\d{4})?$", description="2026, 2026-Q3, 2026-07 or 2023-2027")
]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Note = Annotated[str, Field(min_length=1, max_length=2000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DataPointSubmit(_Input):
    object_id: uuid.UUID
    metric: Metric
    period: Period
    value: Measure
    unit: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    source: Literal["unit", "authoritative"] = "unit"
    notes: Note | None = None
    evidence_sha256: Sha256 | None = Field(default=None, description="A file uploaded to /evidence first.")


class DataPointTransition(_Input):
    to: Literal["verified", "accepted", "rejected"]
    reason: Note | None = Field(default=None, description="Required when rejecting.")


class FlagRaise(_Input):
    note: Note


class FlagResolve(_Input):
    note: Note


class FlagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    data_point_id: uuid.UUID
    rule: str
    details: dict[str, Any]
    status: str
    raised_by: str
    raised_at: dt.datetime
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution_note: str | None


class EvidenceRead(BaseModel):
    sha256: str
    name: str
    size: int
    media_type: str


class DataPointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    object_id: uuid.UUID
    metric: str
    period: str
    source: str
    revision: int
    current: bool
    value: PlainDecimal
    unit: str | None
    notes: str | None
    provenance: dict[str, Any] | None
    evidence: EvidenceRead | None = None
    status: str
    submitted_by: str
    submitted_at: dt.datetime
    verified_by: str | None
    verified_at: dt.datetime | None
    decided_by: str | None
    decided_at: dt.datetime | None
    reject_reason: str | None
    lock_version: int
    flags: list[FlagRead] = []


class DataPointDetail(DataPointRead):
    revisions: list[DataPointRead] = Field(
        default_factory=list, description="Every revision of the same value, oldest first."
    )


class DataPointPage(Page[DataPointRead]):
    pass


class BulkResult(BaseModel):
    submitted: int
    flags_raised: int


class ScanResult(BaseModel):
    keys: int
    flags_raised: int
