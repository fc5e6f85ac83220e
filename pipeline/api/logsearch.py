"""Log search: a query-language expression over a time range, compiled to parameterised SQL.

The WHERE fragment comes from pipeline.query.to_sql, the same compiler whose answers are
kept identical to the streaming rule matcher's; user text only ever travels as parameters.
"""

from __future__ import annotations

from pipeline.api.reads import Reader
from pipeline.query import to_sql
from pipeline.store import tables
from pipeline.store.queries.logs import search_sql

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
LOG_COLUMNS = tables.LOG_COLUMNS  # every stored field of a log


def search_logs(reader: Reader, query: str, from_ns: int | None, to_ns: int | None,
                limit: int = DEFAULT_LIMIT) -> dict:
    """Matching logs, newest first, at most `limit`; `truncated` says whether more matched.
    Raises QueryError for a query that does not parse."""
    fragment, params = to_sql(query)
    if from_ns is not None:
        params["api_from"] = from_ns
    if to_ns is not None:
        params["api_to"] = to_ns
    params["api_limit"] = limit + 1  # one more than asked, to tell whether the answer was cut
    rows = reader.rows(search_sql(fragment, from_ns is not None, to_ns is not None), params)
    for r in rows:
        r["parse_failed"] = bool(r["parse_failed"])
        r["rules"] = list(r["rules"])
    return {"logs": rows[:limit], "count": min(len(rows), limit), "truncated": len(rows) > limit,
            "sql": fragment}
