"""Response pieces the appraisal routes share."""

from __future__ import annotations

from fastapi import Response


def with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'
