from services.indicator_svc.db import SCHEMA, Base
from services.indicator_svc.framework import models  # noqa: F401 - registers the tables
from shared.migrations import run_env

run_env(Base.metadata, SCHEMA)
