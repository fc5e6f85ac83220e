"""Records → column lists for columnar inserts, one function per table.

Column-oriented so clickhouse-connect serialises each column in one pass; the column names
come from the packaged DDL (pipeline.store.tables), the one definition of each table.
"""

from __future__ import annotations

import orjson

from pipeline.model import CorrelatedSpan, LogRecord, MetricPoint, Span
from pipeline.store.tables import (CORRELATED_COLUMNS, DLQ_COLUMNS, LOG_COLUMNS, METRIC_COLUMNS, OFFSET_COLUMNS,
                                   SPAN_COLUMNS)



def span_columns(spans: list[Span]) -> list[list]:
    """Columns in SPAN_COLUMNS order; events are stored as one JSON document."""
    cols = []
    for name in SPAN_COLUMNS:
        if name == "id":
            cols.append([s.trace_id + s.span_id for s in spans])
        elif name == "events":
            cols.append([orjson.dumps(s.events).decode() if s.events else "" for s in spans])
        else:
            cols.append([getattr(s, name) for s in spans])
    return cols


def log_columns(logs: list[LogRecord]) -> list[list]:
    return [[getattr(r, name) for r in logs] for name in LOG_COLUMNS]


# exemplar_<x> columns hold field <x> of each point's exemplars.
_EXEMPLAR_FIELD = {"exemplar_times": "time_ns", "exemplar_values": "value", "exemplar_trace_ids": "trace_id",
                   "exemplar_span_ids": "span_id"}


def metric_columns(points: list[MetricPoint]) -> list[list]:
    """Columns in METRIC_COLUMNS order; exemplars are stored as one array per field."""
    cols = []
    for name in METRIC_COLUMNS:
        field = _EXEMPLAR_FIELD.get(name)
        if field is None:
            cols.append([getattr(p, name) for p in points])
        else:
            cols.append([[getattr(e, field) for e in p.exemplars] for p in points])
    return cols


def dlq_columns(entries: list[tuple]) -> list[list]:
    """DLQ entries are already tuples in DLQ_COLUMNS order."""
    return tuple_columns(entries, len(DLQ_COLUMNS))


def tuple_columns(entries: list[tuple], width: int) -> list[list]:
    """Rows given as tuples in column order, turned into columns."""
    return [[e[i] for e in entries] for i in range(width)]




def correlated_columns(rows: list[CorrelatedSpan]) -> list[list]:
    """Columns in CORRELATED_COLUMNS order; error logs are stored as one JSON document."""
    cols = []
    for name in CORRELATED_COLUMNS:
        if name == "id":
            cols.append([r.trace_id + r.span_id for r in rows])
        elif name == "error_logs":
            cols.append([orjson.dumps(r.error_logs).decode() if r.error_logs else "" for r in rows])
        else:
            cols.append([getattr(r, name) for r in rows])
    return cols




def offset_columns(entries: list[tuple]) -> list[list]:
    """(host, offset_ns, watermark_ns) tuples."""
    return tuple_columns(entries, len(OFFSET_COLUMNS))
