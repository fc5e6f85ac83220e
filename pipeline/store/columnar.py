"""Records → column lists for columnar inserts, one function per table.

Column-oriented so clickhouse-connect serialises each column in one pass; the column names
come from the packaged DDL (pipeline.store.tables), the one definition of each table.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

import orjson

from pipeline.column_batch import ColumnBatch
from pipeline.model import CorrelatedSpan, LogRecord, MetricPoint, Span
from pipeline.store.tables import (CORRELATED_COLUMNS, DLQ_COLUMNS, LOG_COLUMNS, METRIC_COLUMNS, OFFSET_COLUMNS,
                                   SPAN_COLUMNS)


def _by_name(records: list, names: tuple[str, ...], special: dict[str, Callable[[list], list]]) -> list[list]:
    """One column per name: the record attribute of that name, unless `special` builds it.
    The attributes are read one C call per record (attrgetter) and transposed by zip."""
    plain = [n for n in names if n not in special]
    read = dict(zip(plain, map(list, zip(*map(attrgetter(*plain), records))))) if records else {}
    return [special[n](records) if n in special else read.get(n, []) for n in names]


def _ids(records: list) -> list[str]:
    """A span's row id: trace id + span id, the same whatever message carried it."""
    return [r.trace_id + r.span_id for r in records]


def _json_docs(attr: str) -> Callable[[list], list[str]]:
    return lambda records: [orjson.dumps(v).decode() if (v := getattr(r, attr)) else "" for r in records]


def _exemplar_field(field: str) -> Callable[[list], list[list]]:
    return lambda points: [[getattr(e, field) for e in p.exemplars] for p in points]


# Columns not stored as the record's attribute of the same name.
_SPAN_SPECIAL = {"id": _ids, "events": _json_docs("events")}
_CORRELATED_SPECIAL = {"id": _ids, "error_logs": _json_docs("error_logs")}
_EXEMPLAR_COLUMNS = {"exemplar_times": "time_ns", "exemplar_values": "value", "exemplar_trace_ids": "trace_id",
                     "exemplar_span_ids": "span_id"}
_METRIC_SPECIAL = {n: _exemplar_field(f) for n, f in _EXEMPLAR_COLUMNS.items()}


def span_columns(spans: ColumnBatch | list[Span]) -> list[list]:
    """Columns in SPAN_COLUMNS order; events are stored as one JSON document. A columnar
    batch gives its lists as they are: only the id and the events are built."""
    if type(spans) is not ColumnBatch:
        return _by_name(spans, SPAN_COLUMNS, _SPAN_SPECIAL)
    return _batch_columns(spans, SPAN_COLUMNS, "events")


def _batch_columns(batch: ColumnBatch, names: tuple[str, ...], doc: str) -> list[list]:
    """A columnar batch's own lists in `names` order; only the row id (trace id + span id) and
    the one column stored as a JSON document (`doc`) are built."""
    cols = batch.cols
    special = {"id": lambda: [t + s for t, s in zip(cols["trace_id"], cols["span_id"])],
               doc: lambda: [orjson.dumps(v).decode() if v else "" for v in cols[doc]]}
    return [special[n]() if n in special else cols[n] for n in names]


def log_columns(logs: ColumnBatch | list[LogRecord]) -> list[list]:
    """Columns in LOG_COLUMNS order (every one a record field): a columnar batch's own lists."""
    if type(logs) is ColumnBatch:
        return [logs.cols[n] for n in LOG_COLUMNS]
    return _by_name(logs, LOG_COLUMNS, {})


def metric_columns(points: ColumnBatch | list[MetricPoint]) -> list[list]:
    """Columns in METRIC_COLUMNS order; exemplars are stored as one array per field. A
    columnar batch gives its lists as they are: only the exemplar arrays are built."""
    if type(points) is not ColumnBatch:
        return _by_name(points, METRIC_COLUMNS, _METRIC_SPECIAL)
    cols = points.cols
    exemplars = cols["exemplars"]
    special = {n: [[getattr(e, f) for e in ex] if ex else [] for ex in exemplars] if any(exemplars) else
               [[] for _ in exemplars] for n, f in _EXEMPLAR_COLUMNS.items()}
    return [special[n] if n in special else cols[n] for n in METRIC_COLUMNS]


def dlq_columns(entries: list[tuple]) -> list[list]:
    """DLQ entries are already tuples in DLQ_COLUMNS order."""
    return tuple_columns(entries, len(DLQ_COLUMNS))


def tuple_columns(entries: list[tuple], width: int) -> list[list]:
    """Rows given as tuples in column order, turned into columns."""
    return [[e[i] for e in entries] for i in range(width)]


def correlated_columns(rows: ColumnBatch | list[CorrelatedSpan]) -> list[list]:
    """Columns in CORRELATED_COLUMNS order; error logs are stored as one JSON document. The
    engine's columnar rows give their lists as they are: only the id and error logs are built."""
    if type(rows) is not ColumnBatch:
        return _by_name(rows, CORRELATED_COLUMNS, _CORRELATED_SPECIAL)
    return _batch_columns(rows, CORRELATED_COLUMNS, "error_logs")


def offset_columns(entries: list[tuple]) -> list[list]:
    """(host, offset_ns, watermark_ns) tuples."""
    return tuple_columns(entries, len(OFFSET_COLUMNS))
