"""Users, machine clients and the audit log of administrative actions (schema ``identity``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ARRAY, Boolean, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint, false
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.gateway.db import Base
from shared.db import created_at_column, utcnow
from shared.ids import new_id


class User(Base):
    # "user" is a reserved word in PostgreSQL.
    __tablename__ = "user_account"
    __table_args__ = (
        UniqueConstraint("username"),
        Index("ix_user_account_org_path", "org_path", postgresql_ops={"org_path": "text_pattern_ops"}),
        Index("ix_user_account_org_unit_id", "org_unit_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(Text)  # stored lowercase
    display_name: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Failures in a row over all addresses, and the latest lockout of any address (for the admin's
    # eyes; the lockout itself is per account and address, in ``login_throttle``).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A generated first-admin password: no token until the user has chosen a new one.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bumped whenever what a token says about the user stops being true (roles, scope, password,
    # disabled): access tokens carry it as ``stamp`` and older ones are refused by the gateway.
    security_stamp: Mapped[int] = mapped_column(Integer, default=1)
    password_changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)


class ApiClient(Base):
    """A machine-to-machine caller (OAuth2 client credentials); its secret is stored as an argon2 hash."""

    __tablename__ = "api_client"
    __table_args__ = (UniqueConstraint("client_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    secret_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    security_stamp: Mapped[int] = mapped_column(Integer, default=1)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()


class AuditEntry(Base):
    """Who did what to which target, when; written in the same transaction as the action."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_target", "target_type", "target_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    actor: Mapped[str] = mapped_column(Text)
    actor_roles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    action: Mapped[str] = mapped_column(Text, index=True)
    target_type: Mapped[str] = mapped_column(Text)
    target_id: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[dt.datetime] = created_at_column()


class LoginThrottle(Base):
    """Wrong passwords per account *and* source address: a guesser locks out only itself, never the
    account's owner signing in from elsewhere (the built-in admin cannot be locked out remotely)."""

    __tablename__ = "login_throttle"

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(Text, primary_key=True)  # an IPv4 address or an IPv6 /64
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ExternalIdentity(Base):
    """A person known through an external issuer's token exchange. Revoking it refuses new exchanges
    and, through the security stamp its tokens carry, the govperf tokens already issued."""

    # One unique key only: INSERT ... ON CONFLICT arbitrates one constraint, and concurrent first
    # exchanges would fail on a second one. ``subject`` is a function of (issuer, external_subject).
    __tablename__ = "external_identity"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    issuer: Mapped[str] = mapped_column(Text)  # the issuer's configured name
    external_subject: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, unique=True)  # ext:<issuer name>:<external subject>
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text))  # as of the last exchange
    org_unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    security_stamp: Mapped[int] = mapped_column(Integer, default=1)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[dt.datetime] = created_at_column()
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OrgUnit(Base):
    """The gateway's copy of appraisal's org tree (``appraisal.orgunit.changed``): accounts must name a
    unit and path that exist. Empty until appraisal publishes; until then only consistency is checked."""

    __tablename__ = "org_unit"
    __table_args__ = (Index("ix_org_unit_org_path", "org_path"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    org_path: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The event time of the state held: an older event arriving late never overwrites a newer one.
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
