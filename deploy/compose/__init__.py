"""What only the compose stack runs (docker-compose.yaml), as
``python -m deploy.compose.<name>``."""
