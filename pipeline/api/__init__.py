"""The HTTP API: trace fetches and log search over ClickHouse, served by FastAPI."""
