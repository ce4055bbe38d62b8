"""Fixtures of the HTTP-level tests of appraisal_svc."""

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.appraisal_svc.api.support import Api, World


@pytest.fixture
def api(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], db: AsyncSession) -> Api:
    return Api(client, auth, db)


@pytest.fixture
async def world(api: Api) -> World:
    """A province > city > six counties (+ one department), their government objects, a received
    framework, an annual cycle and a draft plan of the city over the six counties."""
    return await api.world()
