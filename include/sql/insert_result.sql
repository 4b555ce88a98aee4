-- Second half of the idempotent load. Bound parameters, in order:
-- dag_run_id, gid, sid, date_start, date_end, total, loaded_at (UTC). The dates arrive typed
-- DATE and loaded_at TIMESTAMP (the driver binds datetime.date and naive datetime so).
INSERT INTO rest_trigger_results
    (dag_run_id, gid, sid, date_start, date_end, total, loaded_at)
VALUES (
    CAST(%s AS VARCHAR(250)),
    %s,
    %s,
    %s,
    %s,
    %s,
    %s
)
