"""Content-addressed evidence store: files are named by their sha256, written once, never changed.

A local folder by default; in production a path on shared storage (a mounted volume or bucket
mount), so every replica sees the same files. The same content stored twice is one file, and a
name proves the content: a reader can recompute the hash of what it fetched."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class EvidenceNotFound(LookupError):
    pass


@dataclass(frozen=True)
class StoredEvidence:
    sha256: str
    size: int


def check_sha256(value: str) -> str:
    if not SHA256_RE.fullmatch(value):
        raise ValueError("an evidence name is 64 lowercase hex characters (sha256)")
    return value


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        # Two-character fan-out keeps folders small however many files there are.
        return self.root / check_sha256(sha256)[:2] / sha256

    def _put(self, data: bytes) -> StoredEvidence:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target and rename: a reader never sees half a file, and two
            # writers of the same content both end with the same complete file.
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredEvidence(sha256=digest, size=len(data))

    def _read(self, sha256: str) -> bytes:
        try:
            return self.path_of(sha256).read_bytes()
        except FileNotFoundError:
            raise EvidenceNotFound(sha256) from None

    async def put(self, data: bytes) -> StoredEvidence:
        """Store ``data`` (off the event loop); returns its name and size."""
        return await asyncio.to_thread(self._put, data)

    async def read(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._read, sha256)

    async def missing(self, names: list[str]) -> list[str]:
        """The names among ``names`` that are not stored."""
        return await asyncio.to_thread(lambda: [n for n in names if not self.path_of(n).is_file()])
