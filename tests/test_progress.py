"""Source progress: what a worker reports per input partition, and how the join combines it."""

from __future__ import annotations

from pipeline.model import LogRecord, MetricPoint, Span
from pipeline.worker.progress import SourceProgress, SpreadProgress, expected_sources, source_name, time_bounds


def test_expected_sources_are_every_partition_of_the_inputs_the_join_reads():
    got = expected_sources({"otlp_spans": 2, "otlp_logs": 1, "otlp_metrics": 1, "telemetry.by_trace": 4})
    assert got == ("otlp_spans/0", "otlp_spans/1", "otlp_logs/0", "otlp_metrics/0")
    assert source_name("telemetry.events", 3) == "telemetry.events/3"


def test_time_bounds_count_only_what_the_join_receives():
    spans = [Span(trace_id="a" * 32, span_id="b" * 16, parent_span_id="", name="x", start_ns=1, end_ns=50)]
    assert time_bounds(spans, [LogRecord(time_ns=90, body="no trace id: raw only")])[1] == 50
    assert time_bounds([], [LogRecord(time_ns=0, observed_ns=70, body="m", trace_id="c" * 32)])[1] == 70
    assert time_bounds([], [], [MetricPoint(name="cpu", type="gauge", time_ns=80)])[1] == 80
    assert time_bounds([], [LogRecord(time_ns=90, body="x")]) == (None, None)
    assert time_bounds(spans, [LogRecord(time_ns=40, body="m", trace_id="c" * 32)],
                       [MetricPoint(name="cpu", type="gauge", time_ns=80)]) == (40, 80)


def test_a_sparse_source_vouches_up_to_its_decoded_batches_oldest_record():
    """A metrics partition that gets a message every ten seconds: while that message's batch
    is on its way, the report used to say its previous message's time, holding the join back
    seconds; once the batch is decoded, everything older than its oldest point is known to be
    forwarded."""
    p = SourceProgress("otlp_metrics")
    p.taken(0, 0)
    p.decoded(0, 0, 1_000)
    p.forwarded(0, 0, 1_000)
    assert p.report(0, 1, 1) == (1_000, False)
    p.taken(0, 1)
    assert p.report(0, 2, 2) == (1_000, True)  # taken, not decoded: its points could be older
    p.decoded(0, 1, 11_000)
    assert p.report(0, 2, 2) == (10_999, True)  # decoded: nothing older than 11,000 is owed
    assert p.report(0, 3, 2) == (1_000, True)  # another message not taken yet: could be anything
    p.taken(0, 2)
    assert p.report(0, 3, 3) == (1_000, True)
    p.decoded(0, 2, 9_000)  # a late point: the oldest of the batches in flight counts
    assert p.report(0, 3, 3) == (8_999, True)
    p.forwarded(0, 1, 11_000)
    assert p.report(0, 3, 3) == (11_000, True)  # never behind what was forwarded
    p.forwarded(0, 2, 9_000)
    assert p.report(0, 3, 3) == (11_000, False)
    q = SourceProgress("otlp_logs")
    q.taken(0, 0)
    q.decoded(0, 0, None)  # only logs without a trace id: no bound either way
    assert q.report(0, 1, 1) == (None, True)


def test_a_partition_is_behind_while_it_has_a_backlog_or_a_batch_on_its_way():
    p = SourceProgress("otlp_spans")
    assert p.report(0, None, 0) == (None, True)  # end not fetched yet: might have input
    assert p.report(0, 0, 0) == (None, False)  # empty partition, nothing taken
    assert p.report(1, 10, 0) == (None, True)  # ten messages unread
    p.taken(1, 4)
    assert p.report(1, 10, 10) == (None, True)  # five still untaken, and nothing forwarded yet
    p.forwarded(1, 4, 500)
    p.taken(1, 9)
    # All taken, but a batch is in flight: its records may be older than 500 (a metric
    # sample the spans already forwarded are waiting for), so the join must hold.
    assert p.report(1, 10, 10) == (500, True)
    p.forwarded(1, 9, 300)  # an older batch finishing later does not move time back
    assert p.report(1, 10, 10) == (500, False)
    assert p.report(1, 12, 10) == (500, True)  # more arrived
    r = SourceProgress("otlp_metrics")
    # At start-up the whole backlog can be fetched before the agent takes its first batch:
    # the position is then at the end, yet nothing has been taken from `start` on.
    assert r.report(0, 40, 40, start=0) == (None, True)
    assert r.report(0, 40, 40, start=40) == (None, False)  # all of it handled by an earlier run
    assert r.report(0, 40, 40) == (None, False)  # start not known yet: as before
    q = SourceProgress("otlp_logs")
    q.taken(0, 3)
    assert q.report(0, 4, 4) == (None, True)  # first batch in flight: the join must wait for it


def test_spread_reports_count_as_far_as_the_least_advanced_partition():
    sp = SpreadProgress(2)
    assert sp.note(0, {"otlp_metrics/0": (100, False)}) == {}  # partition 1 has not vouched yet
    assert sp.note(1, {"otlp_metrics/0": (80, True)}) == {"otlp_metrics/0": (80, True)}
    assert sp.note(1, {"otlp_metrics/0": (120, False)}) == {"otlp_metrics/0": (100, False)}
