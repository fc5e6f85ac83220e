"""What the report index offers to click: where the stored data ends, and the latest traces
that failed (their deepest failing span), so an SRE starts from real ids, not a blank form."""

from __future__ import annotations

from pipeline.api.reads import Reader
from pipeline.store.queries.report import FAILING_TRACES, LATEST_TRACE_END

RECENT_NS = 3600 * 1_000_000_000


def latest_end_ns(reader: Reader) -> int | None:
    """The end of the newest stored trace, or None when nothing is stored."""
    row = reader.rows(LATEST_TRACE_END)[0]
    return int(row["t"]) if row["n"] else None


def failing_traces(reader: Reader, latest_ns: int, limit: int = 10) -> list[dict]:
    """The newest traces with a deepest-failure span in the hour before `latest_ns`."""
    return reader.rows(FAILING_TRACES, {"lo": latest_ns - RECENT_NS, "limit": limit})
