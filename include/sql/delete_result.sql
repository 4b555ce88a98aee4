-- First half of the idempotent load: drop this run's earlier row, if any, in the same
-- transaction as the insert that follows. Bound parameter: dag_run_id.
DELETE FROM rest_trigger_results
WHERE dag_run_id = CAST(%s AS VARCHAR(250))
