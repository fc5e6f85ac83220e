"""Reads behind the report index: where stored data ends, and the latest failing traces."""

from __future__ import annotations

LATEST_TRACE_END = "SELECT max(end_ns) AS t, count() AS n FROM trace_index"

# The deepest failing span of each trace that failed since {lo:Int64}, newest first.
FAILING_TRACES = """
SELECT trace_id, span_id, service, name, start_ns, status_message
FROM correlated_spans FINAL
WHERE own_error AND orig_start_ns >= {lo:Int64}
ORDER BY start_ns DESC
LIMIT 1 BY trace_id
LIMIT {limit:UInt32}
"""
