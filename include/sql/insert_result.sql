-- Second half of the idempotent load. Bound parameters, in order:
-- dag_run_id, gid, sid, date_start, date_end, total, loaded_at (UTC).
INSERT INTO rest_trigger_results
    (dag_run_id, gid, sid, date_start, date_end, total, loaded_at)
VALUES (
    CAST(%s AS VARCHAR(250)),
    %s,
    %s,
    CAST(%s AS DATE),
    CAST(%s AS DATE),
    %s,
    CAST(%s AS TIMESTAMP)
)
