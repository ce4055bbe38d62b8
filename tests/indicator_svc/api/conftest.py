"""Fixtures of the HTTP-level tests of indicator_svc."""

from collections.abc import Callable

import httpx
import pytest

from tests.indicator_svc.api.support import Api


@pytest.fixture
def api(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> Api:
    return Api(client, auth)
