"""Bounded memory of the correlation engine (issue 5): with a million traces in flight
attempted against small caps, the caps hold, memory stays flat, and every span still gets a
row, flagged `completed_early` when the cap (not the inactivity gap) completed its trace.

The caps come from `Settings` through `from_settings`, as in a worker. The traces are all
open in event time (their times advance by nanoseconds, far below the inactivity gap), so
without the cap the engine would hold all of them at once.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.correlate import Correlator, from_settings
from pipeline.model import LogRecord, Span

T0 = 1_700_000_000 * 1_000_000_000
TRACES = 1_000_000
BATCH = 20_000  # traces per add(): one batch is twice the trace cap
CAP_TRACES = 10_000
CAP_RECORDS = 15_000
CHILD_EVERY = 10  # every 10th trace also gets a child span and a log, one batch later


def tid(n: int) -> str:
    return f"{n:032x}"


def roots(lo: int, hi: int) -> list[Span]:
    return [Span(trace_id=tid(n), span_id="0000000000000001", parent_span_id="", name="GET /", start_ns=T0 + n,
                 end_ns=T0 + n + 1, service="api", host="h1") for n in range(lo, hi)]


def late_children(lo: int, hi: int) -> tuple[list[Span], list[LogRecord]]:
    """Child spans and their logs for the traces of [lo, hi) that have them. They arrive a
    whole batch after their root, by which time the cap has already completed the trace."""
    ns = range(lo + (-lo) % CHILD_EVERY, hi, CHILD_EVERY)
    spans = [Span(trace_id=tid(n), span_id="0000000000000002", parent_span_id="0000000000000001", name="db",
                  start_ns=T0 + n, end_ns=T0 + n + 1, service="api", host="h1") for n in ns]
    logs = [LogRecord(time_ns=T0 + n, body="query took 3 ms", trace_id=tid(n), span_id="0000000000000002",
                      host="h1", id=f"log-{n}") for n in ns]
    return spans, logs


def held_traces(eng: Correlator) -> int:
    c = eng.counters()
    return c["traces_in_flight"] + c["traces_retained"] + c["traces_unsettled"]


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def bytes_per_held_trace() -> float:
    """What one trace of this traffic costs while held (uncapped engine, tracemalloc), so the
    test can say how much a million of them would need without the cap."""
    eng = Correlator(from_settings(Settings(max_inflight_traces=10**9, max_buffered_records=10**9)))
    n = 20_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        eng.add(roots(0, n))  # the engine keeps the records themselves alive: they count
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held_traces(eng) == n and eng.buffered_records() == n
    return held / n


def test_caps_are_settings_read_from_the_environment():
    s = load_settings(env={"TELECORR_MAX_INFLIGHT_TRACES": "1234", "TELECORR_MAX_BUFFERED_RECORDS": "5678",
                           "TELECORR_SAMPLE_RATE": "0.25", "TELECORR_SLOW_SPAN_S": "1.5"})
    cfg = from_settings(s)
    assert (cfg.max_traces, cfg.max_records, cfg.sample_rate, cfg.slow_span_ns) == (1234, 5678, 0.25, 1_500_000_000)
    default = from_settings(Settings())
    assert default.sample_rate == 1.0 and default.slow_span_ns == 0  # keep everything unless told


@pytest.mark.parametrize("bad", [{"max_inflight_traces": 0}, {"max_buffered_records": 0},
                                 {"sample_rate": 1.5}, {"sample_rate": -0.1}, {"slow_span_s": -1.0}])
def test_nonsense_caps_and_rates_are_refused(bad):
    with pytest.raises(ValueError):
        from_settings(Settings(**bad))


def test_a_million_traces_in_flight_stay_under_the_caps_and_none_is_dropped():
    per_trace = bytes_per_held_trace()
    eng = Correlator(from_settings(Settings(max_inflight_traces=CAP_TRACES, max_buffered_records=CAP_RECORDS)))
    root_seen = bytearray(TRACES)
    child_seen = bytearray(TRACES // CHILD_EVERY)
    child_logs = 0
    early = not_early = 0
    peak_traces = peak_records = 0
    rss_warm = rss_peak = 0

    def take(rows) -> None:
        nonlocal child_logs, early, not_early
        for r in rows:
            n = int(r.trace_id, 16)
            if r.span_id == "0000000000000001":
                root_seen[n] += 1
            else:
                child_seen[n // CHILD_EVERY] += 1
                child_logs += r.log_count
            if r.completed_early:
                early += 1
            else:
                not_early += 1

    gc.collect()
    for b in range(0, TRACES + BATCH, BATCH):
        spans = roots(b, min(b + BATCH, TRACES)) if b < TRACES else []
        kids, logs = late_children(b - BATCH, b) if b else ([], [])
        eng.add(spans + kids, logs)
        peak_traces = max(peak_traces, held_traces(eng))
        peak_records = max(peak_records, eng.buffered_records())
        take(eng.poll())
        if b == 5 * BATCH:  # the caps have been reached long before: steady state from here
            gc.collect()
            rss_warm = rss_bytes()
        rss_peak = max(rss_peak, rss_bytes())
    flushed = eng.flush_all()
    assert all(not r.completed_early for r in flushed)  # all input seen: an ordinary completion
    take(flushed)

    c = eng.counters()
    # The caps held after every batch (the engine relieves pressure as soon as one is passed).
    assert peak_traces <= CAP_TRACES and peak_records <= CAP_RECORDS, (peak_traces, peak_records)
    # Nothing was dropped: every root span and every late child got exactly one row, and
    # only the final flush completed traces without the cap. A log the engine could not join
    # is counted: under this pressure the cap can complete a late child's trace between the
    # child's span and its log (both old in event time), and the log then finds no span.
    assert root_seen.count(1) == TRACES
    assert child_seen.count(1) == TRACES // CHILD_EVERY
    assert child_logs > 0 and child_logs + c["log_join_miss"] == TRACES // CHILD_EVERY
    assert not_early == len(flushed) < CAP_TRACES
    assert early == TRACES + TRACES // CHILD_EVERY - len(flushed)
    assert c["traces_completed_early"] >= TRACES  # each child reopened an evicted trace
    assert c["too_late_spans"] == c["too_late_logs"] == c["duplicates"] == 0
    assert c["spans_in"] == TRACES + TRACES // CHILD_EVERY and c["logs_in"] == TRACES // CHILD_EVERY
    # Memory: flat after warm-up (measured here: about 1 MB), and the bound is far below what
    # holding every trace would take (about 1 KB a trace, so about 1 GB).
    bound = 32 * 2**20
    growth = rss_peak - rss_warm
    assert growth < bound, f"RSS grew {growth / 2**20:.0f} MB after warm-up"
    uncapped = per_trace * TRACES
    assert uncapped > 10 * bound, f"holding all traces would take only {uncapped / 2**20:.0f} MB"
