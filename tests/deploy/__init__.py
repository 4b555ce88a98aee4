"""Checks of the deployment files under deploy/ (no cluster, no server)."""
