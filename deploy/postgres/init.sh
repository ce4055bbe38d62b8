#!/usr/bin/env bash
# Mounted into /docker-entrypoint-initdb.d/ of the postgres image: runs once, on
# first start of an empty volume, as the superuser. Applies init.sql with each
# service role's password taken (by init.sql, via \getenv) from
# GOVPERF_<SERVICE>_DB_PASSWORD.
set -euo pipefail

sql_file="${GOVPERF_INIT_SQL:-/opt/govperf/init.sql}"
args=(-v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}"
      --dbname "${POSTGRES_DB:-govperf}" -v "dbname=${POSTGRES_DB:-govperf}")
for svc in indicator appraisal survey feedback identity; do
    var="GOVPERF_${svc^^}_DB_PASSWORD"
    if [[ -z "${!var:-}" ]]; then
        echo "init.sh: $var must be set" >&2
        exit 1
    fi
done
psql "${args[@]}" -f "$sql_file"
