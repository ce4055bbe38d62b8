"""Content-addressed evidence store: a file is stored once under its sha256, so a record keeps only
the hash (plus name, size and type) and anyone can check that the bytes were never swapped.

The default root is a local folder (``.govperf/evidence``); in production point it at a mounted
volume or bucket path. Sizes and media types are capped and the type is checked against the bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.errors import NotFound, PayloadTooLarge, UnsupportedMediaType

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# Media type -> the leading bytes every such file starts with (None: text, checked as UTF-8).
SIGNATURES: dict[str, bytes | None] = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": b"PK\x03\x04",
    "text/csv": None,
    "text/plain": None,
}


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str


class EvidenceStore:
    def __init__(
        self, root: Path, *, max_bytes: int = 20 * 1024 * 1024, media_types: frozenset[str] = frozenset(SIGNATURES)
    ) -> None:
        self.root, self.max_bytes, self.media_types = Path(root), max_bytes, media_types

    def path_of(self, sha256: str) -> Path:
        if not SHA256_RE.fullmatch(sha256):
            raise NotFound("No such evidence file.")
        return self.root / sha256[:2] / sha256

    def check(self, data: bytes, media_type: str) -> None:
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"Evidence files are limited to {self.max_bytes} bytes.")
        media = media_type.split(";")[0].strip().lower()
        if media not in self.media_types:
            raise UnsupportedMediaType(f"Evidence must be one of: {', '.join(sorted(self.media_types))}.")
        signature = SIGNATURES.get(media)
        if signature is not None and not data.startswith(signature):
            raise UnsupportedMediaType(f"The file's content is not {media}.")
        if signature is None:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise UnsupportedMediaType(f"The file's content is not UTF-8 {media}.") from None

    def _write(self, sha256: str, data: bytes) -> None:
        target = self.path_of(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, and two writers of one hash agree.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, data: bytes, media_type: str) -> StoredFile:
        self.check(data, media_type)
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, sha256, data)
        return StoredFile(sha256, len(data), media_type.split(";")[0].strip().lower())

    async def read(self, sha256: str) -> bytes:
        path = self.path_of(sha256)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound("No such evidence file.") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise NotFound("The stored evidence file is damaged.")
        return data
