from services.feedback_svc.case import models as case_models  # noqa: F401 - registers the tables
from services.feedback_svc.db import SCHEMA, Base
from services.feedback_svc.meeting import models as meeting_models  # noqa: F401
from services.feedback_svc.task import models as task_models  # noqa: F401
from services.feedback_svc.usage import models as usage_models  # noqa: F401
from shared.migrations import run_env

run_env(Base.metadata, SCHEMA)
