"""The guards on what leans on Airflow internals (plugins/rest_trigger_internals/): each fails
when a newer Airflow moves the thing its module depends on."""
