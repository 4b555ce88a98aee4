-- Deterministic demo data for the local warehouse: the same parameters always give the same
-- rows, so tests and benchmarks can recompute totals. Bound parameters (pyformat):
-- %(accounts)s accounts spread over 100 global ids, %(rows)s activity rows over 50 sites
-- and the 366 days of 2024. Columns come from independent seeded hashes of the row number
-- (hashint8extended is stable across PostgreSQL versions: hash partitioning relies on it);
-- mod() stands for the modulo operator, whose sign would be read as a placeholder.
-- Message kinds, in shares a community site might see, out of every 100 rows: VIEWED 45,
-- CLICKED 20, POSTED 15, COMMENTED 10, and the membership events the count leaves out, JOINED 6
-- and LEFT 4. 2 rows in 100 are system events with no user (dim_user_id NULL), also not counted.
-- (No percent sign in this file, comments included: the driver would read it as a placeholder.)
TRUNCATE fact_user_activity, dim_account, demo_data_info;

INSERT INTO dim_account (dim_account_id, global_id)
SELECT i, mod(i, 100) + 1
FROM generate_series(1, %(accounts)s) AS i;

INSERT INTO fact_user_activity (dim_user_id, dim_account_id, dim_site_id, message, activity_date)
SELECT
    CASE WHEN mod(hashint8extended(i, 6) & 1073741823, 100) < 2 THEN NULL
        ELSE mod(hashint8extended(i, 1) & 1073741823, 50000) + 1 END,
    mod(hashint8extended(i, 2) & 1073741823, %(accounts)s) + 1,
    mod(hashint8extended(i, 3) & 1073741823, 50) + 1,
    CASE
        WHEN kind < 45 THEN 'VIEWED'
        WHEN kind < 65 THEN 'CLICKED'
        WHEN kind < 80 THEN 'POSTED'
        WHEN kind < 90 THEN 'COMMENTED'
        WHEN kind < 96 THEN 'JOINED'
        ELSE 'LEFT'
    END,
    DATE '2024-01-01' + mod(hashint8extended(i, 4) & 1073741823, 366)::int
FROM (
    SELECT i, mod(hashint8extended(i, 5) & 1073741823, 100) AS kind
    FROM generate_series(CAST(1 AS BIGINT), %(rows)s) AS i
) AS numbered;

INSERT INTO demo_data_info (activity_rows, accounts, seed_digest)
VALUES (%(rows)s, %(accounts)s, %(digest)s);
ANALYZE dim_account;
ANALYZE fact_user_activity;
