"""Reads behind the operator commands (`telecorr skew`, the summary `telecorr up` prints)."""

from __future__ import annotations

from pipeline.store.tables import columns

# Each host's newest offset estimate, the event time it holds from, and when it was written.
LATEST_OFFSETS = ("SELECT host, argMax(offset_ns, updated_at), argMax(watermark_ns, updated_at), "
                  "max(updated_at) FROM clock_offsets GROUP BY host ORDER BY host")

# Each host's median offset over the stored correlated rows, in milliseconds.
OFFSET_MEDIANS_MS = ("SELECT host, round(median(clock_offset_ns) / 1e6, 1) FROM correlated_spans FINAL "
                     "GROUP BY host ORDER BY host")


def row_count(table: str) -> str:
    """Rows stored in `table` (after merging replays). Only tables the DDL defines are
    accepted: a table name cannot be a query parameter."""
    columns(table)  # raises KeyError for a table the schemas do not define
    return f"SELECT count() FROM {table} FINAL"
