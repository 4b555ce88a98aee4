-- Deterministic demo data for the local warehouse: the same parameters always give the same
-- rows, so tests and benchmarks can recompute totals. Bound parameters (pyformat):
-- %(accounts)s accounts spread over 100 global ids, %(rows)s activity rows over 50 sites
-- and the 366 days of 2024. Columns come from independent seeded hashes of the row number
-- (hashint8extended is stable across PostgreSQL versions: hash partitioning relies on it);
-- mod() stands for the modulo operator, whose sign would be read as a placeholder.
TRUNCATE fact_user_activity, dim_account, demo_data_info;

INSERT INTO dim_account (dim_account_id, global_id)
SELECT i, mod(i, 100) + 1
FROM generate_series(1, %(accounts)s) AS i;

INSERT INTO fact_user_activity (dim_user_id, dim_account_id, dim_site_id, message, activity_date)
SELECT
    mod(hashint8extended(i, 1) & 1073741823, 50000) + 1,
    mod(hashint8extended(i, 2) & 1073741823, %(accounts)s) + 1,
    mod(hashint8extended(i, 3) & 1073741823, 50) + 1,
    'event ' || i,
    DATE '2024-01-01' + mod(hashint8extended(i, 4) & 1073741823, 366)::int
FROM generate_series(CAST(1 AS BIGINT), %(rows)s) AS i;

INSERT INTO demo_data_info (activity_rows, accounts) VALUES (%(rows)s, %(accounts)s);
ANALYZE dim_account;
ANALYZE fact_user_activity;
