"""Re-keying for the join: normalised spans and logs to the by-trace topic, metric points to
the metrics topic that every worker reads.

Records travel in batches, one Kafka message per target partition per consumed batch (split
further only to stay under MAX_MESSAGE_BYTES), not one message per record: the partition is
chosen from the trace id, so every record of a trace lands on one partition (co-partitioning)
while the message rate stays low. Values are JSON (orjson serialises the model's slots
dataclasses directly).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from pipeline.model import LogRecord, MetricPoint, Span
from pipeline.shuffle.wirecheck import WireError, build_all, progress_of

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


_SAMPLE = 64  # records serialised to estimate a list's size per record


def _cut(items: list, limit: int) -> list[list]:
    """Pieces of `items` that should each serialise to about 80 % of `limit`, judged from a
    sample, so a large list is serialised once rather than whole and then again in pieces."""
    if len(items) <= _SAMPLE:
        return [items] if items else []
    step = max(1, int(limit * 0.8 * _SAMPLE / len(orjson.dumps(items[:_SAMPLE]))))
    return [items[i:i + step] for i in range(0, len(items), step)]


def _halves(items: list, encode: Callable[[list, bool], bytes], limit: int, last: bool = True) -> list[bytes]:
    """encode(items, last) as one value, or halved until each value is at most `limit` bytes
    (a single item goes as it is); `last` is true only for the final piece."""
    value = encode(items, last)
    if len(value) <= limit or len(items) <= 1:
        return [value]
    half = len(items) // 2
    return _halves(items[:half], encode, limit, False) + _halves(items[half:], encode, limit, last)


def _pack(spans: list, logs: list, progress: Reports | None, limit: int) -> list[bytes]:
    """JSON values carrying these records, each at most `limit` bytes unless it holds a
    single record; progress rides on the last one, after every record it speaks for."""
    def doc(s: list, lg: list, last: bool) -> bytes:
        return orjson.dumps({"spans": s, "logs": lg, "progress": progress} if progress and last
                            else {"spans": s, "logs": lg})

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

        def encode(x: list, last: bool, are_spans: bool = are_spans, final: bool = final) -> bytes:
            return doc(x, [], final and last) if are_spans else doc([], x, final and last)
        out += _halves(items, encode, limit)
    return out


def by_trace_messages(spans: list[Span], logs: list[LogRecord], partitions: int,
                      progress: Reports | None = None,
                      limit: int = MAX_MESSAGE_BYTES) -> list[tuple[int, bytes]]:
    """(partition, value) messages carrying every span and every log that has a trace id,
    in order per partition, each value at most `limit` bytes (or one record).

    With `progress`, every partition gets a message carrying it, records or not: a
    partition's watermark must hear from every source that is behind (see
    Correlator.add), including sources whose recent records all went elsewhere."""
    groups: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for s in spans:
        groups[trace_partition(s.trace_id, partitions)][0].append(s)
    for r in logs:
        if r.trace_id:
            groups[trace_partition(r.trace_id, partitions)][1].append(r)
    targets = range(partitions) if progress else sorted(groups)
    empty: tuple[list, list] = ([], [])
    return [(p, value) for p in targets for value in _pack(*groups.get(p, empty), progress, limit)]


def read_by_trace(value: bytes) -> tuple[list[Span], list[LogRecord], dict[str, Report]]:
    """The records and progress of one by-trace message; ValueError (WireError) if it is not
    what a worker writes (pipeline/shuffle/wirecheck.py)."""
    data = orjson.loads(value)
    if type(data) is not dict:
        raise WireError(f"expected an object, got {type(data).__name__}")
    return (build_all(Span, data.get("spans", []), "spans"), build_all(LogRecord, data.get("logs", []), "logs"),
            progress_of(data.get("progress")))


def progress_message(progress: Reports) -> bytes:
    """A source-progress report on its own (the metrics topic carries these between points)."""
    return orjson.dumps(progress)


def read_progress(value: bytes) -> dict[str, Report]:
    return progress_of(orjson.loads(value))


def metric_messages(points: list[MetricPoint], limit: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """JSON lists of points, each at most `limit` bytes (or one point)."""
    return [v for part in _cut(points, limit) or [[]]
            for v in _halves(part, lambda x, _last: orjson.dumps(x), limit)]


def read_metrics(value: bytes) -> list[MetricPoint]:
    """The points of one metrics message; ValueError (WireError) if it is not what a worker writes."""
    return build_all(MetricPoint, orjson.loads(value), "points")
