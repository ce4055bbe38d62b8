from collections.abc import Callable

import httpx
import pytest

from tests.survey_svc.support import SurveyApi


@pytest.fixture
def api(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> SurveyApi:
    return SurveyApi(client, auth)
