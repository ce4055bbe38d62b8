from services.gateway.db import SCHEMA, Base
from services.gateway.identity import models as identity_models  # noqa: F401 - registers the tables
from services.gateway.keys import models as key_models  # noqa: F401
from services.gateway.notification import models as notification_models  # noqa: F401
from services.gateway.tokens import models as token_models  # noqa: F401
from shared.migrations import run_env

run_env(Base.metadata, SCHEMA)
