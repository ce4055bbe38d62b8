"""Response I/O models. Answers are checked against the questionnaire in the service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.survey_svc.campaign.schemas import RespondentGroup
from services.survey_svc.questionnaire.content import MAX_QUESTIONS, Code

AnswerName = Annotated[str, Field(min_length=1, max_length=64)]
Answers = Annotated[dict[AnswerName, Any], Field(max_length=MAX_QUESTIONS)]
Fingerprint = Annotated[str, Field(min_length=1, max_length=512)]
Duration = Annotated[int, Field(ge=0, le=86_400, description="Seconds the respondent spent.")]


class TokenSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=64)]
    answers: Answers
    duration_seconds: Duration | None = None
    device_fingerprint: Fingerprint | None = None


class InterviewSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    respondent_group: RespondentGroup
    region: Code
    object_id: uuid.UUID
    answers: Answers
    duration_seconds: Duration | None = None
    device_fingerprint: Fingerprint | None = None


class Receipt(BaseModel):
    """The response's link in the campaign's hash chain: proof it was recorded as sent."""

    receipt: str
    over_quota: bool = False
