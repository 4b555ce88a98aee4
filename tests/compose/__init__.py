"""docker-compose.yaml: its files checked statically, its secret generator, and the stack run in
real containers (`make test-compose`)."""
