"""Pieces of the REST API layer: an ``[api] auth_backends`` module (cached_basic_auth) and the
``[core] auth_manager`` (auth_manager: FAB's, with triggering separated from editing and no 500
for an unknown dotted DAG id)."""
