from services.gateway.db import SCHEMA, Base
from shared.migrations import run_env

run_env(Base.metadata, SCHEMA)
