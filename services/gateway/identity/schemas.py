"""Admin API input and output models for users, API clients and the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.auth.principal import OrgPath, Role

Username = Annotated[str, StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]
# Length is the policy (NIST SP 800-63B): long passphrases welcome, no composition rules.
MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 12, 256
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
ClientName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _unique_roles(roles: list[Role]) -> list[Role]:
    if len(set(roles)) != len(roles):
        raise ValueError("roles must not repeat")
    return sorted(roles)


Roles = Annotated[list[Role], Field(min_length=1, max_length=len(Role)), AfterValidator(_unique_roles)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(StrictModel):
    username: Username
    display_name: DisplayName
    email: Email | None = None
    password: Password
    roles: Roles
    org_unit_id: uuid.UUID
    org_path: OrgPath


class UserUpdate(StrictModel):
    """Only the fields sent change; ``version`` (or If-Match) guards against lost updates."""

    display_name: DisplayName | None = None
    email: Email | None = None
    roles: Roles | None = None
    org_unit_id: uuid.UUID | None = None
    org_path: OrgPath | None = None
    disabled: bool | None = None
    unlock: bool | None = None  # clear a login lockout early
    version: int | None = Field(default=None, ge=1)


class PasswordReset(StrictModel):
    new_password: Password


class OwnPasswordChange(StrictModel):
    """A user changing its own password; no token needed (a generated one cannot get a token)."""

    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    org_unit_id: uuid.UUID
    org_path: str
    disabled: bool
    locked_until: dt.datetime | None
    failed_logins: int
    must_change_password: bool
    last_login_at: dt.datetime | None
    password_changed_at: dt.datetime
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    lock_version: int


class UserPage(BaseModel):
    items: list[UserRead]
    next_cursor: str | None = None


class ClientCreate(StrictModel):
    name: ClientName
    roles: Roles
    org_unit_id: uuid.UUID
    org_path: OrgPath


class ClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: str
    name: str
    roles: list[str]
    org_unit_id: uuid.UUID
    org_path: str
    revoked_at: dt.datetime | None
    revoked_by: str | None
    created_by: str
    created_at: dt.datetime


class ClientCreated(ClientRead):
    client_secret: str = Field(description="Shown once; only its hash is stored.")


class ClientPage(BaseModel):
    items: list[ClientRead]
    next_cursor: str | None = None


class ExternalIdentityRead(BaseModel):
    """A person known through an external issuer, as of its last token exchange."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    issuer: str
    external_subject: str
    subject: str
    roles: list[str]
    org_unit_id: uuid.UUID
    org_path: str
    revoked_at: dt.datetime | None
    revoked_by: str | None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class ExternalIdentityPage(BaseModel):
    items: list[ExternalIdentityRead]
    next_cursor: str | None = None


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    actor: str
    actor_roles: list[str]
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: dt.datetime


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None = None


class SigningKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kid: str
    algorithm: str
    activates_at: dt.datetime
    retires_at: dt.datetime | None
    publish_until: dt.datetime | None
    created_by: str
    created_at: dt.datetime


class SigningKeyList(BaseModel):
    items: list[SigningKeyRead]


class MeRead(BaseModel):
    """The caller as the gateway sees it, and the account behind the token (if there is one here)."""

    subject: str
    kind: str  # user | client | external | development
    roles: list[str]
    org_unit_id: uuid.UUID
    org_path: str
    user: UserRead | None = None
    client: ClientRead | None = None
