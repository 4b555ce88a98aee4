-- The PostgreSQL equivalent of include/sql/redshift/schema.sql, for the local stand-in
-- warehouse. Same tables, columns and types; indexes stand in for the sort keys.
CREATE TABLE IF NOT EXISTS dim_account (
    dim_account_id BIGINT NOT NULL PRIMARY KEY,
    global_id BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS dim_account_global_id ON dim_account (global_id, dim_account_id);

-- dim_user_id is NULL for activity no user caused (system events); the count leaves those out.
CREATE TABLE IF NOT EXISTS fact_user_activity (
    dim_user_id BIGINT,
    dim_account_id BIGINT NOT NULL,
    dim_site_id BIGINT NOT NULL,
    message VARCHAR(1024),
    activity_date DATE NOT NULL
);
-- Warehouses created before dim_user_id became nullable.
ALTER TABLE fact_user_activity ALTER COLUMN dim_user_id DROP NOT NULL;
-- The count query fixes the site, joins to the few accounts of one global id and takes a date
-- range: with (site, account, date) PostgreSQL runs one index-only range scan per account
-- (a nested loop over dim_account_global_id), so it reads only the matching rows and the time
-- hardly grows with the rows outside the range (docs/benchmarks.md, "Scale"). The earlier
-- (site, date, account) index made it read every row of the site in the range.
DROP INDEX IF EXISTS fact_user_activity_site_date;
CREATE INDEX IF NOT EXISTS fact_user_activity_site_account_date
    ON fact_user_activity (dim_site_id, dim_account_id, activity_date);

CREATE TABLE IF NOT EXISTS rest_trigger_results (
    dag_run_id VARCHAR(250) NOT NULL PRIMARY KEY,
    gid BIGINT NOT NULL,
    sid BIGINT NOT NULL,
    date_start DATE NOT NULL,
    date_end DATE NOT NULL,
    total BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);

-- Which demo data set is loaded (its size and the digest of the seed file that made it), so a
-- second `make run` does not seed again, and a changed seed file does.
CREATE TABLE IF NOT EXISTS demo_data_info (
    activity_rows BIGINT NOT NULL,
    accounts BIGINT NOT NULL,
    seeded_at TIMESTAMP NOT NULL DEFAULT now()
);
ALTER TABLE demo_data_info ADD COLUMN IF NOT EXISTS seed_digest VARCHAR(64);
