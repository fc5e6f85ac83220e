"""What the report index offers to click: where the stored data ends, and the latest traces
that failed (their deepest failing span), so an SRE starts from real ids, not a blank form."""

from __future__ import annotations

from pipeline.api.reads import Reader

RECENT_NS = 3600 * 1_000_000_000

_LATEST_SQL = "SELECT max(end_ns) AS t, count() AS n FROM trace_index"
_FAILING_SQL = """
SELECT trace_id, span_id, service, name, start_ns, status_message
FROM correlated_spans FINAL
WHERE own_error AND orig_start_ns >= {lo:Int64}
ORDER BY start_ns DESC
LIMIT 1 BY trace_id
LIMIT {limit:UInt32}
"""


def latest_end_ns(reader: Reader) -> int | None:
    """The end of the newest stored trace, or None when nothing is stored."""
    row = reader.rows(_LATEST_SQL)[0]
    return int(row["t"]) if row["n"] else None


def failing_traces(reader: Reader, latest_ns: int, limit: int = 10) -> list[dict]:
    """The newest traces with a deepest-failure span in the hour before `latest_ns`."""
    return reader.rows(_FAILING_SQL, {"lo": latest_ns - RECENT_NS, "limit": limit})
