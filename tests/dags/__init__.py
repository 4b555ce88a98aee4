"""dags/rest_trigger.py: parse-time integrity and policy, and the DAG run in-process
(dag.test())."""
