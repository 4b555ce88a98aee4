"""The project's tests, laid out like the code: dags/, plugins/, client/, local/, e2e/, compose/,
bench/, with what they share in support/ (README.md, "Tests", lists each layer)."""
