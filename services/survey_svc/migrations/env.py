from services.survey_svc.analysis import models as analysis_models  # noqa: F401 - registers the tables
from services.survey_svc.campaign import models as campaign_models  # noqa: F401
from services.survey_svc.db import SCHEMA, Base
from services.survey_svc.questionnaire import models as questionnaire_models  # noqa: F401
from services.survey_svc.response import models as response_models  # noqa: F401
from shared.migrations import run_env

run_env(Base.metadata, SCHEMA)
