-- Production DDL for Amazon Redshift. Apply once, by hand or by your migration tool:
--   psql "host=<cluster> port=5439 dbname=dev user=<admin> sslmode=require" -f include/sql/redshift/schema.sql
-- fact_user_activity is distributed on the account key so the join with dim_account is
-- co-located, and sorted on (dim_site_id, activity_date) so the query's filters skip blocks.
CREATE TABLE IF NOT EXISTS dim_account (
    dim_account_id BIGINT NOT NULL,
    global_id BIGINT NOT NULL,
    PRIMARY KEY (dim_account_id)
)
DISTSTYLE KEY
DISTKEY (dim_account_id)
SORTKEY (global_id);

-- dim_user_id is NULL for activity no user caused (system events); the count leaves those out.
CREATE TABLE IF NOT EXISTS fact_user_activity (
    dim_user_id BIGINT,
    dim_account_id BIGINT NOT NULL,
    dim_site_id BIGINT NOT NULL,
    message VARCHAR(1024),
    activity_date DATE NOT NULL
)
DISTSTYLE KEY
DISTKEY (dim_account_id)
COMPOUND SORTKEY (dim_site_id, activity_date);

-- One row per Airflow dag_run_id; Redshift does not enforce the primary key, the load's
-- delete-then-insert in one transaction does.
CREATE TABLE IF NOT EXISTS rest_trigger_results (
    dag_run_id VARCHAR(250) NOT NULL,
    gid BIGINT NOT NULL,
    sid BIGINT NOT NULL,
    date_start DATE NOT NULL,
    date_end DATE NOT NULL,
    total BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (dag_run_id)
)
DISTSTYLE ALL;
