"""Log search: a query-language expression over a time range, compiled to parameterised SQL.

The WHERE fragment comes from pipeline.query.to_sql, the same compiler whose answers are
kept identical to the streaming rule matcher's; user text only ever travels as parameters.
"""

from __future__ import annotations

from pipeline.api.reads import Reader
from pipeline.query import to_sql

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
LOG_COLUMNS = ("id", "time_ns", "observed_ns", "service", "instance", "host", "trace_id", "span_id",
               "severity_number", "severity_text", "body", "attributes", "resource", "format",
               "parse_failed", "rules", "template_id", "template")


def search_logs(reader: Reader, query: str, from_ns: int | None, to_ns: int | None,
                limit: int = DEFAULT_LIMIT) -> dict:
    """Matching logs, newest first, at most `limit`; `truncated` says whether more matched.
    Raises QueryError for a query that does not parse."""
    fragment, params = to_sql(query)
    where = [f"({fragment})"]
    if from_ns is not None:
        where.append("time_ns >= {api_from:Int64}")
        params["api_from"] = from_ns
    if to_ns is not None:
        where.append("time_ns <= {api_to:Int64}")
        params["api_to"] = to_ns
    params["api_limit"] = limit + 1  # one more than asked, to tell whether the answer was cut
    sql = (f"SELECT {', '.join(LOG_COLUMNS)} FROM logs FINAL WHERE {' AND '.join(where)} "
           "ORDER BY time_ns DESC, id LIMIT {api_limit:UInt32}")
    rows = reader.rows(sql, params)
    for r in rows:
        r["parse_failed"] = bool(r["parse_failed"])
        r["rules"] = list(r["rules"])
    return {"logs": rows[:limit], "count": min(len(rows), limit), "truncated": len(rows) > limit,
            "sql": fragment}
