"""A record dated far ahead of its Kafka timestamp (a broken clock) cannot drag the watermark."""

from __future__ import annotations

from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.worker.progress import time_bounds
from tests.test_correlate_engine import MS, S, T0, log, span

DAY = 86_400 * S


def _engine() -> Correlator:
    return Correlator(CorrelateConfig(inactivity_ns=5 * S, max_lateness_ns=60 * S, max_skew_ns=10 * S))


def test_spans_a_day_ahead_do_not_make_real_spans_too_late():
    eng = _engine()
    # Four spans from a host whose clock runs a day ahead, carried at T0 by Kafka.
    eng.add([span(900 + i, "f", DAY, DAY + 10 * MS, kafka_ns=T0) for i in range(4)])
    for n in range(20):  # then ordinary traffic, one trace a second
        t = n * S
        eng.add([span(n, "a", t, t + 50 * MS, kafka_ns=T0 + t)],
                [log(n, f"l{n}", t + 10 * MS, "a", kafka_ns=T0 + t)])
    rows = eng.poll()
    c = eng.counters()
    assert c["too_late_spans"] == 0 and c["too_late_logs"] == 0
    assert c["ahead_of_kafka_time"] == 4
    real = [r for r in rows if r.span_id == "a"]
    assert len(real) >= 10 and all(r.log_count == 1 for r in real)
    assert eng.watermark() < T0 + 30 * S  # not a day ahead


def test_without_kafka_time_nothing_is_capped():
    eng = _engine()
    eng.add([span(1, "f", DAY, DAY + 1)])
    assert eng.watermark() >= T0 + DAY and eng.counters()["ahead_of_kafka_time"] == 0


def test_source_progress_is_capped_the_same_way():
    spans = [span(1, "f", DAY, DAY + 1, kafka_ns=T0), span(2, "a", 0, 5, kafka_ns=T0)]
    assert time_bounds(spans, [], (), 10 * S)[1] == T0 + 10 * S
    assert time_bounds(spans, [])[1] == T0 + DAY + 1
