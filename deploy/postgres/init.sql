-- govperf database layout: one login role per service, each owning only its schema.
--
-- Not run directly by the postgres image: init.sh (next to this file) runs it with
-- psql (>= 15 for \getenv) once, on first start of an empty data volume, after
-- checking that every GOVPERF_<SERVICE>_DB_PASSWORD env var is set. Passwords are
-- read from the environment here, so no secret lives in the repository nor shows
-- up on a command line. psql variable `dbname` names the database.
\set ON_ERROR_STOP on
\getenv indicator_pw GOVPERF_INDICATOR_DB_PASSWORD
\getenv appraisal_pw GOVPERF_APPRAISAL_DB_PASSWORD
\getenv survey_pw GOVPERF_SURVEY_DB_PASSWORD
\getenv feedback_pw GOVPERF_FEEDBACK_DB_PASSWORD
\getenv identity_pw GOVPERF_IDENTITY_DB_PASSWORD

-- Nothing for anyone by default: no objects in public, no TEMP, no CONNECT.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;

CREATE ROLE indicator LOGIN PASSWORD :'indicator_pw';
CREATE ROLE appraisal LOGIN PASSWORD :'appraisal_pw';
CREATE ROLE survey    LOGIN PASSWORD :'survey_pw';
CREATE ROLE feedback  LOGIN PASSWORD :'feedback_pw';
CREATE ROLE identity  LOGIN PASSWORD :'identity_pw';

-- Each schema is owned by its service role: that role runs its migrations (alembic
-- version table included) and its queries there. No role gets any right on another
-- role's schema; cross-service data travels by events and REST only.
CREATE SCHEMA indicator AUTHORIZATION indicator;
CREATE SCHEMA appraisal AUTHORIZATION appraisal;
CREATE SCHEMA survey    AUTHORIZATION survey;
CREATE SCHEMA feedback  AUTHORIZATION feedback;
CREATE SCHEMA identity  AUTHORIZATION identity;

-- TEMPORARY: bulk imports stage COPY data in temp tables (session-private pg_temp).
-- No CREATE on the database: a role cannot make new schemas, so migrations must not
-- run a bare CREATE SCHEMA (even IF NOT EXISTS fails without it).
GRANT CONNECT, TEMPORARY ON DATABASE :"dbname" TO indicator, appraisal, survey, feedback, identity;

ALTER ROLE indicator SET search_path = indicator;
ALTER ROLE appraisal SET search_path = appraisal;
ALTER ROLE survey    SET search_path = survey;
ALTER ROLE feedback  SET search_path = feedback;
ALTER ROLE identity  SET search_path = identity;
