"""Log in at the gateway and publish an indicator framework, with a client generated from the
platform's OpenAPI document. Generate the client first (it is not kept in the repository):

    openapi-python-client generate --url http://127.0.0.1:8000/openapi.json --meta none \\
        --output-path govperf_client
    GOVPERF_PASSWORD=... python examples/publish_framework.py --gateway http://127.0.0.1:8000 \\
        --username sz-office --org-path /gd/sz --org-unit-id 0195f0a0-0000-7000-8000-000000000001

It imports the framework file as a draft (the shipped city framework unless --file is given),
then publishes it with the ETag of the draft, and prints the published version and content hash.
Every error answer is a ``Problem``: its title, detail and errors[] are printed as they came.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

SHIPPED_FRAMEWORK = Path(__file__).resolve().parents[1] / "services/indicator_svc/data/city_framework.yaml"


def fail(what: str, response: Any) -> None:
    problem = response.parsed
    sys.stderr.write(f"{what} failed: HTTP {response.status_code}\n")
    if problem is not None and hasattr(problem, "title"):
        sys.stderr.write(f"  {problem.title}: {problem.detail}\n")
        for error in problem.errors or []:
            sys.stderr.write(f"  - {error.to_dict()}\n")
    raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--org-path", required=True, help="the org unit that owns the framework, e.g. /gd/sz")
    parser.add_argument("--org-unit-id", required=True, type=uuid.UUID)
    parser.add_argument("--file", type=Path, default=SHIPPED_FRAMEWORK, help="YAML, JSON or xlsx framework")
    parser.add_argument("--client-dir", type=Path, default=Path.cwd(), help="folder holding govperf_client/")
    args = parser.parse_args()
    password = os.environ.get("GOVPERF_PASSWORD")
    if not password:
        parser.error("set GOVPERF_PASSWORD (kept out of the command line and the shell history)")

    sys.path.insert(0, str(args.client_dir))
    from govperf_client import AuthenticatedClient, Client
    from govperf_client.api.auth import auth_token
    from govperf_client.api.indicator_frameworks import indicator_frameworks_import, indicator_frameworks_publish
    from govperf_client.models import AuthTokenBody, IndicatorFrameworkRead, TokenResponse
    from govperf_client.models.indicator_frameworks_import_format_type_0 import IndicatorFrameworksImportFormatType0
    from govperf_client.types import File

    for _ in range(3):
        login = auth_token.sync_detailed(
            client=Client(base_url=args.gateway),
            body=AuthTokenBody(grant_type="password", username=args.username, password=password),
        )
        if login.status_code != 429:
            break
        # The token endpoint is rate-limited per address: wait as told, then try again.
        time.sleep(min(float(login.headers.get("Retry-After", "5")), 30.0))
    if not isinstance(login.parsed, TokenResponse):
        fail("login", login)
    assert isinstance(login.parsed, TokenResponse)
    api = AuthenticatedClient(base_url=args.gateway, token=login.parsed.access_token)

    suffix = args.file.suffix.lower().lstrip(".")
    file_format = IndicatorFrameworksImportFormatType0("yaml" if suffix == "yml" else suffix)
    created = indicator_frameworks_import.sync_detailed(
        client=api,
        body=File(payload=io.BytesIO(args.file.read_bytes()), file_name=args.file.name),
        org_unit_id=args.org_unit_id,
        org_path=args.org_path,
        format_=file_format,
        idempotency_key=str(uuid.uuid4()),
    )
    if not isinstance(created.parsed, IndicatorFrameworkRead):
        fail("import", created)
    assert isinstance(created.parsed, IndicatorFrameworkRead)
    draft = created.parsed
    print(f"draft {draft.id} ({draft.code} v{draft.version}) imported")

    published = indicator_frameworks_publish.sync_detailed(draft.id, client=api, if_match=created.headers["ETag"])
    if not isinstance(published.parsed, IndicatorFrameworkRead):
        fail("publish", published)
    assert isinstance(published.parsed, IndicatorFrameworkRead)
    framework = published.parsed
    print(f"published {framework.id} version {framework.version} status {framework.status.value}")
    print(f"content_hash {framework.content_hash}")


if __name__ == "__main__":
    main()
