"""Pieces of the REST API layer: an ``[api] auth_backends`` module (cached_basic_auth) and the
``[core] auth_manager`` (auth_manager: FAB's, without its 500 for unknown dotted DAG ids)."""
