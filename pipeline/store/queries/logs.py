"""Reads behind log search (GET /v1/logs)."""

from __future__ import annotations

from pipeline.store.tables import LOG_COLUMNS


def search_sql(fragment: str, has_from: bool, has_to: bool) -> str:
    """Logs matching `fragment` (pipeline.query.to_sql's WHERE text, whose every user value is
    a `{name:Type}` parameter), optionally bounded by {api_from:Int64}/{api_to:Int64}, newest
    first, at most {api_limit:UInt32}."""
    where = [f"({fragment})"]
    if has_from:
        where.append("time_ns >= {api_from:Int64}")
    if has_to:
        where.append("time_ns <= {api_to:Int64}")
    return (f"SELECT {', '.join(LOG_COLUMNS)} FROM logs FINAL WHERE {' AND '.join(where)} "
            "ORDER BY time_ns DESC, id LIMIT {api_limit:UInt32}")
