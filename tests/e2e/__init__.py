"""The REST API and the UI end to end, on the real webserver and scheduler: the flow callers use,
the OpenAPI property test, security guarantees, oversized bodies."""
