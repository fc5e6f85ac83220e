"""Engine behaviour over time: watermarks, completion, amends, lateness, sampling, memory."""

from __future__ import annotations

import tracemalloc

from pipeline.correlate import CorrelateConfig, Correlator, from_settings
from pipeline.correlate.sampling import keep_by_hash
from pipeline.config import Settings
from pipeline.model import STATUS_ERROR, LogRecord, Span

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S


def tid(n: int) -> str:
    return f"{n * 0x9E3779B97F4A7C15 % (1 << 64):016x}{n:016x}"


def span(trace: int, sid: str, start: int, end: int, parent: str = "", t0: int = T0, **kw) -> Span:
    return Span(trace_id=tid(trace), span_id=sid, parent_span_id=parent, name="op", start_ns=t0 + start,
                end_ns=t0 + end, service="api", host="h1", **kw)


def log(trace: int, lid: str, t: int, span_id: str, t0: int = T0, **kw) -> LogRecord:
    return LogRecord(time_ns=t0 + t, body="m", trace_id=tid(trace), span_id=span_id, host="h1", id=lid, **kw)


def test_from_settings_maps_seconds():
    cfg = from_settings(Settings(log_window_s=0.5, trace_inactivity_s=2.0, max_lateness_s=60.0))
    assert cfg.log_window_ns == S // 2 and cfg.inactivity_ns == 2 * S and cfg.max_lateness_ns == 60 * S


def test_completion_follows_event_time_not_wall_clock():
    # Data from 2001: completes exactly when event time moves past the inactivity gap.
    old = 1_000_000_000 * S
    for t0 in (old, T0):
        eng = Correlator(CorrelateConfig(inactivity_ns=5 * S))
        eng.add([span(1, "a", 0, 100 * MS, t0=t0)])
        assert eng.poll() == []
        eng.add([span(2, "b", 5 * S, 5 * S + 99 * MS, t0=t0)])
        assert eng.poll() == []  # 4.999 s of inactivity only
        eng.add([span(2, "c", 5 * S, 5 * S + 100 * MS, t0=t0)])
        rows = eng.poll()
        assert [r.span_id for r in rows] == ["a"]
        assert rows[0].trace_complete_ns == t0 + 5 * S + 100 * MS


def test_watermark_is_minimum_over_partitions_with_data():
    eng = Correlator(CorrelateConfig(inactivity_ns=S))
    eng.add([span(1, "a", 0, 10 * MS)], partition=0)
    eng.add([span(2, "b", 0, 20 * MS)], partition=1)
    eng.add([span(3, "c", 10 * S, 10 * S + 1)], partition=0)
    assert eng.watermark() == T0 + 20 * MS
    assert eng.poll() == []  # partition 1 holds the watermark back
    eng.add([span(4, "d", 3 * S, 3 * S + 1)], partition=1)
    assert sorted(r.span_id for r in eng.poll()) == ["a", "b"]


def test_a_source_that_is_behind_holds_the_watermark_so_its_records_still_join():
    # A replayed backlog: spans have run 400 s of event time ahead of the logs (lateness 60 s).
    eng = Correlator(CorrelateConfig(inactivity_ns=S, max_lateness_ns=60 * S))
    eng.add([span(n, "s", n * S, n * S + 10 * MS) for n in range(400)],
            progress={"otlp_spans/0": (T0 + 399 * S + 10 * MS, False), "otlp_logs/0": (T0, True)})
    assert eng.watermark() == T0 + S  # held one gap past the logs' progress
    assert eng.poll() == []
    eng.add(logs=[log(n, f"l{n}", n * S + 5 * MS, "s") for n in range(400)],
            progress={"otlp_logs/0": (T0 + 399 * S + 5 * MS, False)})
    rows = eng.poll()
    c = eng.counters()
    assert c["too_late_logs"] == 0 and c["too_late_spans"] == 0
    assert len(rows) == 399 and all(r.log_ids == [f"l{int(r.trace_id[16:], 16)}"] for r in rows)


def test_without_progress_the_faster_signal_makes_the_slower_one_too_late():
    # The same backlog with no source progress: what the markers exist to prevent.
    eng = Correlator(CorrelateConfig(inactivity_ns=S, max_lateness_ns=60 * S))
    eng.add([span(n, "s", n * S, n * S + 10 * MS) for n in range(400)])
    eng.add(logs=[log(n, f"l{n}", n * S + 5 * MS, "s") for n in range(400)])
    assert eng.counters()["too_late_logs"] == 340  # older than 399 s - 60 s


def test_caught_up_sources_hold_nothing_back_and_progress_never_goes_back():
    eng = Correlator(CorrelateConfig(inactivity_ns=S))
    eng.add([span(1, "a", 0, 10 * MS), span(2, "b", 5 * S, 5 * S)],
            progress={"otlp_spans/0": (T0 + 5 * S, False), "otlp_logs/1": (T0 + S, False)})
    assert eng.watermark() == T0 + 5 * S and [r.span_id for r in eng.poll()] == ["a"]
    eng.add(progress={"otlp_logs/1": (T0 + 2 * S, True)})  # a backlog appears
    assert eng.watermark() == T0 + 3 * S  # one gap (1 s) past the source's progress
    eng.add(progress={"otlp_logs/1": (T0, True)})  # a restarted source replays: no step back
    assert eng.watermark() == T0 + 3 * S
    eng.add(progress={"otlp_logs/1": (T0 + 3 * S, False)})
    assert eng.watermark() == T0 + 5 * S
    eng.add(progress={"otlp_logs/1": (T0 + 3 * S, True)}, partition=1)
    eng.drop_partitions([1])  # a lost partition's sources no longer hold this worker back
    assert eng.watermark() == T0 + 5 * S


def test_nothing_completes_until_every_expected_source_has_reported():
    eng = Correlator(CorrelateConfig(inactivity_ns=S, sources=("otlp_spans/0", "otlp_logs/0")))
    eng.add([span(1, "a", 0, 10 * MS), span(2, "b", 5 * S, 5 * S)])
    assert eng.watermark() is None and eng.poll() == []
    eng.add(progress={"otlp_spans/0": (T0 + 5 * S, False)})
    assert eng.watermark() is None  # the logs have not been heard from: they may be a backlog
    eng.add(progress={"otlp_logs/0": (None, False)})  # an empty, caught-up source
    assert [r.span_id for r in eng.poll()] == ["a"]


def test_late_data_amends_with_higher_version_and_duplicates_do_not():
    eng = Correlator(CorrelateConfig(inactivity_ns=S, max_lateness_ns=60 * S))
    eng.add([span(1, "root", 0, 100 * MS), span(1, "kid", 10 * MS, 50 * MS, parent="root")],
            [log(1, "l1", 20 * MS, "kid")])
    eng.add([span(2, "x", 5 * S, 5 * S)])
    first = {r.span_id: r for r in eng.poll()}
    assert first["root"].version == first["kid"].version == 2 * 3 + 1  # 3 records, skew decided
    assert not first["kid"].late_amend
    # A duplicate changes nothing; a new late log amends the whole trace with version 2 * 4 + 1.
    eng.add([span(1, "kid", 10 * MS, 50 * MS, parent="root")], [log(1, "l1", 20 * MS, "kid")])
    eng.add([span(2, "y", 6 * S, 6 * S)])
    assert eng.poll() == []
    eng.add(logs=[log(1, "l2", 30 * MS, "kid", severity_number=17)])
    eng.add([span(2, "z", 8 * S, 8 * S)])
    amended = {r.span_id: r for r in eng.poll()}
    assert set(amended) == {"root", "kid"}  # trace 2 (x, y, z) is still active
    assert amended["kid"].version == 9 and amended["kid"].late_amend
    assert amended["kid"].log_ids == ["l1", "l2"] and amended["kid"].is_error
    c = eng.counters()
    assert c["duplicates"] == 2 and c["late_amends"] == 1 and c["traces_completed"] == 1


def test_data_older_than_lateness_bound_is_counted_not_joined():
    eng = Correlator(CorrelateConfig(inactivity_ns=S, max_lateness_ns=10 * S))
    eng.add([span(1, "a", 0, 100 * MS)])
    eng.add([span(2, "b", 8 * S, 8 * S)])
    assert [r.span_id for r in eng.poll()] == ["a"]
    eng.add([span(1, "a2", 10 * MS, 50 * MS, parent="a")])  # late but within the bound: amends
    eng.add([span(3, "c", 30 * S, 30 * S)])
    rows = eng.poll()
    assert {r.span_id for r in rows} == {"a", "a2", "b"}
    c = eng.counters()  # traces 1 and 2 passed the bound: forgotten; trace 3 still open
    assert c["traces_retained"] == 0 and c["traces_in_flight"] == 1
    # Now older than watermark - lateness (20 s): raw only, counted.
    eng.add([span(1, "late", 10 * MS, 19 * S)], [log(1, "old", 50 * MS, "a"), log(3, "ok", 29 * S + 500 * MS, "c")])
    c = eng.counters()
    assert c["too_late_spans"] == 1 and c["too_late_logs"] == 1 and c["logs_in"] == 2
    assert [r.log_ids for r in eng.flush_all()] == [["ok"]]


def test_flush_all_completes_everything_in_flight():
    eng = Correlator()
    eng.add([span(i, f"s{i}", i * MS, i * MS + 5) for i in range(50)])
    assert eng.poll() == []
    rows = eng.flush_all()
    assert len(rows) == 50 and not any(r.completed_early for r in rows)
    assert eng.counters()["traces_completed"] == 50 and eng.counters()["traces_in_flight"] == 0


def test_logs_whose_spans_never_arrive_give_no_rows_but_are_counted():
    eng = Correlator()
    eng.add(logs=[log(1, "l1", 0, "ghost"), log(1, "l2", 1, "")])
    assert eng.flush_all() == []
    assert eng.counters()["log_join_miss"] == 2


def test_sampling_consistent_and_keeps_errors_and_slow_traces():
    cfg = CorrelateConfig(sample_rate=0.5, slow_span_ns=2 * S)
    spans = []
    for i in range(2000):
        kw = {}
        if i % 10 == 0:
            kw["status_code"] = STATUS_ERROR
        end = 3 * S if i % 10 == 1 else 10 * MS
        spans.append(span(i, f"s{i:x}", 0, end, **kw))
    kept_sets = []
    for order in (spans, spans[::-1]):
        eng = Correlator(cfg)
        eng.add(order)
        kept_sets.append({r.trace_id for r in eng.flush_all()})
    assert kept_sets[0] == kept_sets[1]
    kept = kept_sets[0]
    for i in range(2000):
        expect = i % 10 in (0, 1) or keep_by_hash(tid(i), 0.5)
        assert (tid(i) in kept) == expect
    by_hash = sum(keep_by_hash(tid(i), 0.5) for i in range(2000))
    assert 850 < by_hash < 1150


def test_memory_cap_holds_with_a_million_traces_attempted():
    cap_records, cap_traces = 20_000, 10_000
    eng = Correlator(CorrelateConfig(max_records=cap_records, max_traces=cap_traces))
    emitted = 0
    peak = 0
    batch = 20_000
    for b in range(1_000_000 // batch):
        base = b * batch
        # Every trace is still open in event time (no gap ever passes): only the cap completes them.
        eng.add([Span(trace_id=f"{n:032x}", span_id="01", parent_span_id="", name="op", start_ns=T0 + n,
                      end_ns=T0 + n + 1) for n in range(base, base + batch)])
        peak = max(peak, eng.buffered_records(), eng.counters()["traces_in_flight"])
        emitted += len(eng.poll())
    emitted += len(eng.flush_all())
    c = eng.counters()
    assert peak <= cap_traces
    assert emitted == 1_000_000  # nothing dropped silently
    assert c["traces_completed"] == 1_000_000
    assert c["traces_completed_early"] >= 1_000_000 - cap_traces


def test_memory_stays_bounded_under_tracemalloc():
    eng = Correlator(CorrelateConfig(max_records=2_000, max_traces=2_000))

    def feed(lo: int, hi: int) -> None:
        for b in range(lo, hi, 2_000):
            eng.add([Span(trace_id=f"{n:032x}", span_id="01", parent_span_id="", name="op",
                          start_ns=T0 + n, end_ns=T0 + n + 1) for n in range(b, b + 2_000)],
                    [LogRecord(time_ns=T0 + n, body="x" * 100, trace_id=f"{n:032x}", span_id="01", id=str(n))
                     for n in range(b, b + 2_000)])
            eng.poll()

    tracemalloc.start()
    try:
        feed(0, 6_000)
        warm = tracemalloc.get_traced_memory()[0]
        feed(6_000, 24_000)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert eng.buffered_records() <= 2_000
    assert after - warm < 500_000, (warm, after)  # 3x the traffic, no growth beyond noise
