"""Re-keying for the join: co-partitioning by trace and lossless round trips."""

from __future__ import annotations

from pipeline.model import Exemplar, LogRecord, MetricPoint, Span
from pipeline.route import by_trace_messages, metric_message, read_by_trace, read_metrics, trace_partition


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
    assert read_metrics(metric_message(points)) == points
