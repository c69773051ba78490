"""The hub server: axis-compatible API, routing, delivery, operator API, health and metrics."""

from gateway.server.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
