"""Re-keying for the join: co-partitioning by trace and lossless round trips."""

from __future__ import annotations

from pipeline.model import Exemplar, LogRecord, MetricPoint, Span
import orjson

from pipeline.shuffle.route import (
    MAX_MESSAGE_BYTES,
    by_trace_messages,
    metric_messages,
    read_by_trace,
    read_metrics,
    trace_partition,
)


def test_every_record_of_a_trace_lands_on_one_partition_and_round_trips():
    spans = [Span(trace_id=f"{t:032x}", span_id=f"{i:016x}", parent_span_id="", name="op", start_ns=i, end_ns=i + 5,
                  attributes={"k": "v"}, events=[{"time_ns": 1, "name": "exception", "attributes": {}}])
             for t in range(20) for i in range(3)]
    logs = [LogRecord(time_ns=3, body="hello", trace_id=f"{t:032x}", rules=["x"], id=f"l{t}") for t in range(20)]
    logs.append(LogRecord(time_ns=3, body="no trace here", id="n"))
    msgs = by_trace_messages(spans, logs, 4)
    got_spans, got_logs = [], []
    for partition, value in msgs:
        s, lg, progress = read_by_trace(value)
        assert progress == {}
        assert all(trace_partition(r.trace_id, 4) == partition for r in s + lg)
        got_spans += s
        got_logs += lg
    assert sorted(got_spans, key=lambda s: s.id) == sorted(spans, key=lambda s: s.id)
    assert sorted(got_logs, key=lambda r: r.id) == sorted(logs[:-1], key=lambda r: r.id)  # no trace id: raw only
    assert {trace_partition(f"{t:032x}", 4) for t in range(200)} == {0, 1, 2, 3}


def test_progress_reaches_every_partition_even_without_records():
    spans = [Span(trace_id="ab" * 16, span_id="cd" * 8, parent_span_id="", name="op", start_ns=1, end_ns=2)]
    progress = {"otlp_logs/3": (1_700_000_000_000_000_000, True), "otlp_spans/0": (5, False)}
    msgs = by_trace_messages(spans, [], 4, progress)
    assert [p for p, _ in msgs] == [0, 1, 2, 3]
    decoded = [read_by_trace(v) for _, v in msgs]
    assert all(got == progress for _, _, got in decoded)
    assert sum(len(s) for s, _, _ in decoded) == 1


def test_metric_points_round_trip_with_exemplars_and_quantiles():
    points = [MetricPoint(name="lat", type="summary", time_ns=9, count=2, sum=3.0, min=None,
                          quantiles=[(0.5, 1.0)], exemplars=[Exemplar(1, 2.0, "ab" * 16, "cd" * 8)], id="m")]
    assert [read_metrics(v) for v in metric_messages(points)] == [points]


def _log(i: int, trace: str, size: int = 300) -> LogRecord:
    return LogRecord(time_ns=i, body=f"{i} " + "x" * size, trace_id=trace, id=f"l{i:06d}")


def test_a_large_batch_is_split_under_the_limit_keeping_order_and_every_record():
    # A consumed batch can be 100k records; one message per partition of that would be tens
    # of MB, which the producer refuses (and a refused send used to stall the worker).
    traces = ["ab" * 16, "cd" * 16, "ef" * 16]
    spans = [Span(trace_id=traces[i % 3], span_id=f"{i:016x}", parent_span_id="", name="op",
                  start_ns=i, end_ns=i + 1) for i in range(3000)]
    logs = [_log(i, traces[i % 3]) for i in range(6000)]
    progress = {"otlp_logs/0": (7, True)}
    limit = 64 * 1024
    msgs = by_trace_messages(spans, logs, 4, progress, limit=limit)
    assert all(len(v) <= limit for _, v in msgs)
    whole = sum(len(v) for _, v in by_trace_messages(spans, logs, 4, progress, limit=1 << 30))
    assert len(msgs) <= 2 * (whole // limit) + 8  # split into near-full pieces, not crumbs
    got: dict[int, tuple[list, list]] = {}
    for partition, value in msgs:
        s, lg, prog = read_by_trace(value)
        got.setdefault(partition, ([], []))[0].extend(s)
        got[partition][1].extend(lg)
        assert all(trace_partition(r.trace_id, 4) == partition for r in s + lg)
    for p in range(4):  # progress reaches every partition once, after all of its records
        values = [v for q, v in msgs if q == p]
        assert [read_by_trace(v)[2] for v in values][-1] == progress
        assert all(read_by_trace(v)[2] == {} for v in values[:-1])
    for p, (s, lg) in got.items():  # records keep their order within a partition
        assert s == [x for x in spans if trace_partition(x.trace_id, 4) == p]
        assert lg == [x for x in logs if trace_partition(x.trace_id, 4) == p]
    assert sum(len(s) + len(lg) for s, lg in got.values()) == len(spans) + len(logs)


def test_a_record_larger_than_the_limit_travels_alone():
    big = _log(1, "ab" * 16, size=5000)
    small = [_log(i, "ab" * 16, size=10) for i in range(2, 5)]
    msgs = by_trace_messages([], [big, *small], 1, limit=1000)
    assert [len(read_by_trace(v)[1]) for _, v in msgs][0] == 1
    assert [r for _, v in msgs for r in read_by_trace(v)[1]] == [big, *small]
    assert all(len(v) <= 1000 for _, v in msgs[1:])


def test_metric_points_are_split_under_the_limit():
    points = [MetricPoint(name="cpu", type="gauge", time_ns=i, value=float(i), id=f"m{i}") for i in range(20_000)]
    values = metric_messages(points)
    assert len(values) > 1 and all(len(v) <= MAX_MESSAGE_BYTES for v in values)
    assert [p for v in values for p in read_metrics(v)] == points
    assert len(orjson.dumps(points)) > MAX_MESSAGE_BYTES
