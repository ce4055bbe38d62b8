import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.identity.service import passwords_of
from tests.gateway.api.support import Identity


@pytest.fixture
def ident(client: httpx.AsyncClient, db: AsyncSession, gateway_app: FastAPI) -> Identity:
    return Identity(client, db, passwords_of(gateway_app))
