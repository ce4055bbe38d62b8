from services.appraisal_svc.audit import models as audit_models  # noqa: F401 - registers the tables
from services.appraisal_svc.collection import models as collection_models  # noqa: F401
from services.appraisal_svc.cycle import models as cycle_models  # noqa: F401
from services.appraisal_svc.db import SCHEMA, Base
from services.appraisal_svc.expert import models as expert_models  # noqa: F401
from services.appraisal_svc.framework import models as framework_models  # noqa: F401
from services.appraisal_svc.improvement import models as improvement_models  # noqa: F401
from services.appraisal_svc.orgunit import models as orgunit_models  # noqa: F401
from services.appraisal_svc.plan import models as plan_models  # noqa: F401
from services.appraisal_svc.publication import models as publication_models  # noqa: F401
from services.appraisal_svc.scoring import models as scoring_models  # noqa: F401
from services.appraisal_svc.target import models as target_models  # noqa: F401
from shared.migrations import run_env

run_env(Base.metadata, SCHEMA)
