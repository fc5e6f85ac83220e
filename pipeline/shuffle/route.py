"""Re-keying for the join: normalised spans and logs to the by-trace topic, metric points to
the metrics topic that every worker reads.

Records travel in batches, one Kafka message per target partition per consumed batch (split
further only to stay under MAX_MESSAGE_BYTES), not one message per record: the partition is
chosen from the trace id, so every record of a trace lands on one partition (co-partitioning)
while the message rate stays low. By-trace values are version-2 JSON: one list per record
field (columns sliced per partition, no object per record); metric values are version-2 JSON
too, `{"v": 2, "points": columns}`, and a version-1 value (a JSON list of point objects) is
still read, as one may be on the topic across an upgrade.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import orjson

from pipeline.column_batch import ColumnBatch
from pipeline.model import LogRecord, MetricPoint, Span
from pipeline.shuffle.wirecheck import (WireError, build_all, point_columns, progress_of,  # noqa: F401
                                        read_by_trace)  # read_by_trace: moved there

if TYPE_CHECKING:  # a run-time import would be circular (decode.limits imports this module)
    from pipeline.worker.progress import Report, Reports


def trace_partition(trace_id: str, partitions: int) -> int:
    """Stable across processes and versions (not Python's salted hash)."""
    return zlib.crc32(trace_id.encode()) % partitions


# Largest value one re-keyed message may have. A consumed batch can hold 100k records (500
# messages of 200), tens of MB as JSON: one message per partition of that is refused by the
# producer (8 MiB request limit) and by a stock Kafka broker (about 1 MB), and a refused send
# would hold the batch forever. 1 MiB keeps a few hundred to a thousand records per message.
MAX_MESSAGE_BYTES = 1024 * 1024


Batch = TypeVar("Batch", list, ColumnBatch)
_SAMPLE = 64  # records serialised to estimate a batch's size per record


def _cut(batch: Batch, limit: int) -> list[Batch]:
    """Pieces of `batch` that should each serialise to about 80 % of `limit`, judged from a
    sample, so a large batch is serialised once rather than whole and then again in pieces."""
    n = len(batch)
    if n <= _SAMPLE:
        return [batch] if n else []
    sample = batch[:_SAMPLE]
    step = max(1, int(limit * 0.8 * _SAMPLE / len(orjson.dumps(sample.cols if type(sample) is ColumnBatch else sample))))
    return [batch[i:i + step] for i in range(0, n, step)]


def _halves(items: Batch, encode: Callable[[Batch, bool], bytes], limit: int,
            last: bool = True) -> list[bytes]:
    """encode(items, last) as one value, or halved until each value is at most `limit` bytes
    (a single item goes as it is); `last` is true only for the final piece."""
    value = encode(items, last)
    if len(value) <= limit or len(items) <= 1:
        return [value]
    half = len(items) // 2
    return _halves(items[:half], encode, limit, False) + _halves(items[half:], encode, limit, last)


def _pack(spans: ColumnBatch, logs: ColumnBatch, progress: Reports | None, limit: int) -> list[bytes]:
    """Version-2 JSON values (columnar: field name → list, docs/architecture.md) carrying
    these records, each at most `limit` bytes unless it holds a single record; progress rides
    on the last one, after every record it speaks for."""
    def doc(s: ColumnBatch | None, lg: ColumnBatch | None, last: bool) -> bytes:
        value: dict = {"v": 2}
        if s:
            value["spans"] = s.cols
        if lg:
            value["logs"] = lg.cols
        if progress and last:
            value["progress"] = progress
        return orjson.dumps(value)

    span_cuts, log_cuts = _cut(spans, limit), _cut(logs, limit)
    if len(span_cuts) <= 1 and len(log_cuts) <= 1:
        value = doc(spans, logs, True)
        if len(value) <= limit or len(spans) + len(logs) <= 1:
            return [value]
    # Spans apart from logs, in pieces sized from a sample, each halved if the sample was low.
    pieces = [(s, True) for s in span_cuts] + [(lg, False) for lg in log_cuts]
    out: list[bytes] = []
    for i, (items, are_spans) in enumerate(pieces):
        final = i == len(pieces) - 1

        def encode(x: ColumnBatch, last: bool, are_spans: bool = are_spans, final: bool = final) -> bytes:
            return doc(x, None, final and last) if are_spans else doc(None, x, final and last)
        out += _halves(items, encode, limit)
    return out


def _by_partition(trace_ids: list[str], partitions: int) -> dict[int, list[int]]:
    """Row indexes per target partition, in row order; rows without a trace id go nowhere."""
    groups: dict[int, list[int]] = defaultdict(list)
    crc = zlib.crc32
    for i, tid in enumerate(trace_ids):
        if tid:
            groups[crc(tid.encode()) % partitions].append(i)
    return groups


def by_trace_messages(spans: ColumnBatch | list[Span], logs: ColumnBatch | list[LogRecord], partitions: int,
                      progress: Reports | None = None,
                      limit: int = MAX_MESSAGE_BYTES) -> list[tuple[int, bytes]]:
    """(partition, value) messages carrying every span and every log that has a trace id,
    in order per partition, each value at most `limit` bytes (or one record). Records are
    re-keyed by slicing their columns; lists of records are taken too.

    With `progress`, every partition gets a message carrying it, records or not: a
    partition's watermark must hear from every source that is behind (see
    Correlator.add), including sources whose recent records all went elsewhere."""
    spans = spans if type(spans) is ColumnBatch else ColumnBatch.of(Span, spans)
    logs = logs if type(logs) is ColumnBatch else ColumnBatch.of(LogRecord, logs)
    span_rows = _by_partition(spans.cols["trace_id"], partitions)
    log_rows = _by_partition(logs.cols["trace_id"], partitions)
    targets = range(partitions) if progress else sorted(span_rows.keys() | log_rows.keys())
    empty: list[int] = []
    return [(p, value) for p in targets
            for value in _pack(spans.take(span_rows.get(p, empty)), logs.take(log_rows.get(p, empty)), progress, limit)]


def progress_message(progress: Reports) -> bytes:
    """A source-progress report on its own (the metrics topic carries these between points)."""
    return orjson.dumps(progress)


def read_progress(value: bytes) -> dict[str, Report]:
    return progress_of(orjson.loads(value))


def metric_messages(points: ColumnBatch | list[MetricPoint], limit: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """Version-2 values carrying the points' columns, each at most `limit` bytes (or one point)."""
    points = points if type(points) is ColumnBatch else ColumnBatch.of(MetricPoint, points)
    return [v for part in _cut(points, limit) or [points]
            for v in _halves(part, lambda x, _last: orjson.dumps({"v": 2, "points": x.cols}), limit)]


def read_metrics(value: bytes) -> ColumnBatch:
    """The points of one metrics message, v2 (columns) or v1 (a list of point objects);
    ValueError (WireError, or orjson's) if it is not what a worker writes."""
    data = orjson.loads(value)
    if type(data) is list:
        return ColumnBatch.of(MetricPoint, build_all(MetricPoint, data, "points"))
    if type(data) is not dict or data.get("v") != 2 or type(data["v"]) is not int or data.keys() - {"v", "points"}:
        raise WireError("expected a v2 metrics message ({\"v\": 2, \"points\": columns}) or a v1 list of points")
    return ColumnBatch(MetricPoint, point_columns(data.get("points")))
