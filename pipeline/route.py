"""Re-keying for the join: normalised spans and logs to the by-trace topic, metric points to
the metrics topic that every worker reads.

Records travel in batches, one Kafka message per target partition per consumed batch, not one
message per record: the partition is chosen from the trace id, so every record of a trace
lands on one partition (co-partitioning) while the message rate stays low. Values are JSON
(orjson serialises the model's slots dataclasses directly).
"""

from __future__ import annotations

import zlib
from collections import defaultdict

import orjson

from pipeline.model import Exemplar, LogRecord, MetricPoint, Span


def trace_partition(trace_id: str, partitions: int) -> int:
    """Stable across processes and versions (not Python's salted hash)."""
    return zlib.crc32(trace_id.encode()) % partitions


Progress = dict[str, tuple[int | None, bool]]  # source -> (newest event time forwarded, behind?)


def by_trace_messages(spans: list[Span], logs: list[LogRecord], partitions: int,
                      progress: Progress | None = None) -> list[tuple[int, bytes]]:
    """(partition, value) messages carrying every span and every log that has a trace id.

    With `progress`, every partition gets a message carrying it, records or not: a
    partition's watermark must hear from every source that is behind (see
    Correlator.add), including sources whose recent records all went elsewhere."""
    groups: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for s in spans:
        groups[trace_partition(s.trace_id, partitions)][0].append(s)
    for r in logs:
        if r.trace_id:
            groups[trace_partition(r.trace_id, partitions)][1].append(r)
    if not progress:
        return [(p, orjson.dumps({"spans": g[0], "logs": g[1]})) for p, g in sorted(groups.items())]
    empty: tuple[list, list] = ([], [])
    return [(p, orjson.dumps({"spans": g[0], "logs": g[1], "progress": progress}))
            for p, g in ((p, groups.get(p, empty)) for p in range(partitions))]


def read_by_trace(value: bytes) -> tuple[list[Span], list[LogRecord], Progress]:
    data = orjson.loads(value)
    progress = {src: (None if t is None else int(t), bool(behind))
                for src, (t, behind) in (data.get("progress") or {}).items()}
    return [Span(**d) for d in data["spans"]], [LogRecord(**d) for d in data["logs"]], progress


def progress_message(progress: Progress) -> bytes:
    """A source-progress report on its own (the metrics topic carries these between points)."""
    return orjson.dumps(progress)


def read_progress(value: bytes) -> Progress:
    return {src: (None if t is None else int(t), bool(behind)) for src, (t, behind) in orjson.loads(value).items()}


def metric_message(points: list[MetricPoint]) -> bytes:
    return orjson.dumps(points)


def read_metrics(value: bytes) -> list[MetricPoint]:
    out = []
    for d in orjson.loads(value):
        d["exemplars"] = [Exemplar(**e) for e in d["exemplars"]]
        d["quantiles"] = [tuple(q) for q in d["quantiles"]]
        out.append(MetricPoint(**d))
    return out
