"""What both OpenAPI property tests (tests/e2e/test_api_schema.py on 2.11's /api/v1,
tests/e2e/test_airflow3_api_schema.py on 3.x's /api/v2) run: schemathesis' coverage phase and
random examples, on a fixed seed, with generation that never feeds on the server's answers, so
that a run's request count is reproducible (SCHEMA_SEED, SCHEMA_EXAMPLES to change them)."""

from __future__ import annotations

import os
from typing import Any

EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "15"))
SEED = int(os.environ.get("SCHEMA_SEED", "20"))


def schemathesis_config(parameters: dict[str, Any]) -> dict[str, Any]:
    """The config both tests load; ``parameters``: the path values of real objects on the stack
    (a made-up id stops at 404 before any query parameter is read)."""
    return {
        "seed": SEED,
        "phases": {
            "examples": {"enabled": False},  # Airflow's specs have almost none
            # Cases from the spec and the seed alone, not from what the server answered (the
            # default feeds responses back into generation), so that a count is reproducible.
            "coverage": {"enabled": True, "extra-data-sources": {"responses": False}},
            "fuzzing": {
                "enabled": True,
                "extra-data-sources": {"responses": False},
                "error-feedback": {"enabled": False},
            },
            "stateful": {"enabled": False},
        },
        "generation": {"mode": "all", "max-examples": EXAMPLES},
        "parameters": parameters,
    }
