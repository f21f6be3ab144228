"""The HTTP API (FastAPI): authentication, routes, error mapping."""
