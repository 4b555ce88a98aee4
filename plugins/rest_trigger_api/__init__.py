"""Pieces of the REST API layer: an ``[api] auth_backends`` module (cached_basic_auth)."""
