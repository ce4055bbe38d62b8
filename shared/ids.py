"""Identifier helpers: UUIDv7 keeps inserts and cursors in time order."""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    return uuid7()
