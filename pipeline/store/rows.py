"""Records → column lists for columnar inserts, one function per table.

Column-oriented so clickhouse-connect serialises each column in one pass; the column names
here are the single source of truth for what the writer sends.
"""

from __future__ import annotations

import orjson

from pipeline.model import CorrelatedSpan, LogRecord, MetricPoint, Span

SPAN_COLUMNS = ("id", "trace_id", "span_id", "parent_span_id", "name", "kind", "service", "instance",
                "host", "start_ns", "end_ns", "status_code", "status_message", "attributes",
                "resource", "events")
LOG_COLUMNS = ("id", "time_ns", "observed_ns", "service", "instance", "host", "trace_id", "span_id",
               "severity_number", "severity_text", "body", "attributes", "resource", "format",
               "parse_failed", "rules", "template_id", "template")
METRIC_COLUMNS = ("id", "name", "type", "unit", "service", "instance", "host", "time_ns",
                  "start_time_ns", "value", "attributes", "resource", "is_monotonic", "temporality",
                  "count", "sum", "min", "max", "bucket_bounds", "bucket_counts", "exp_scale",
                  "exp_zero_count", "exp_positive_offset", "exp_positive_counts",
                  "exp_negative_offset", "exp_negative_counts", "quantiles", "exemplar_times",
                  "exemplar_values", "exemplar_trace_ids", "exemplar_span_ids")
DLQ_COLUMNS = ("topic", "partition", "offset", "reason", "size", "preview")


def span_columns(spans: list[Span]) -> list[list]:
    cols = [[s.trace_id + s.span_id for s in spans]]
    for name in SPAN_COLUMNS[1:-1]:
        cols.append([getattr(s, name) for s in spans])
    cols.append([orjson.dumps(s.events).decode() if s.events else "" for s in spans])
    return cols


def log_columns(logs: list[LogRecord]) -> list[list]:
    return [[getattr(r, name) for r in logs] for name in LOG_COLUMNS]


_METRIC_DIRECT = METRIC_COLUMNS[:-4]


def metric_columns(points: list[MetricPoint]) -> list[list]:
    cols = [[getattr(p, name) for p in points] for name in _METRIC_DIRECT]
    cols.append([[e.time_ns for e in p.exemplars] for p in points])
    cols.append([[e.value for e in p.exemplars] for p in points])
    cols.append([[e.trace_id for e in p.exemplars] for p in points])
    cols.append([[e.span_id for e in p.exemplars] for p in points])
    return cols


def dlq_columns(entries: list[tuple]) -> list[list]:
    """DLQ entries are already tuples in DLQ_COLUMNS order."""
    return tuple_columns(entries, len(DLQ_COLUMNS))


def tuple_columns(entries: list[tuple], width: int) -> list[list]:
    """Rows given as tuples in column order, turned into columns."""
    return [[e[i] for e in entries] for i in range(width)]


CORRELATED_COLUMNS = ("id", "trace_id", "span_id", "parent_span_id", "name", "service", "instance", "host",
                      "kind", "start_ns", "end_ns", "orig_start_ns", "orig_end_ns", "clock_offset_ns",
                      "duration_ns", "self_time_ns", "status_code", "status_message", "is_error",
                      "error_sources", "log_count", "log_severity_counts", "rule_ids", "error_logs",
                      "log_ids", "metrics", "metric_z", "completed_early", "late_amend", "version",
                      "trace_complete_ns", "peer", "service_version", "own_error")


def correlated_columns(rows: list[CorrelatedSpan]) -> list[list]:
    cols = [[r.trace_id + r.span_id for r in rows]]
    for name in CORRELATED_COLUMNS[1:]:
        if name == "error_logs":
            cols.append([orjson.dumps(r.error_logs).decode() if r.error_logs else "" for r in rows])
        else:
            cols.append([getattr(r, name) for r in rows])
    return cols


OFFSET_COLUMNS = ("host", "offset_ns", "watermark_ns")


def offset_columns(entries: list[tuple]) -> list[list]:
    """(host, offset_ns, watermark_ns) tuples."""
    return tuple_columns(entries, len(OFFSET_COLUMNS))
