"""The engine's fast paths against plain definitions of what they compute.

The row builder, the skew solver and the cap checks in `add` are written for speed (one
pass per trace, sweeps run in C, caps checked only where counts can grow); these tests pin
them to direct, slow statements of the same rules, so a faster rewrite cannot drift.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.correlate.metric_index import MetricIndex
from pipeline.correlate.joined_rows import attach_logs, build_rows, call_peers
from pipeline.correlate.skew import MIN_GROUP, solve_offsets
from benchmarks.harness.synthetic import generate
from pipeline.model import LogRecord, Span

S = 1_000_000_000
MS = 1_000_000
TID = "cd" * 16
HOSTS = ("a", "b", "c")


@st.composite
def traces(draw) -> tuple[dict[str, Span], dict[str, int]]:
    """A random tree of up to 8 spans on up to 3 hosts, with host offsets."""
    n = draw(st.integers(1, 8))
    spans: dict[str, Span] = {}
    for i in range(n):
        start = draw(st.integers(0, 1000)) * MS
        length = draw(st.integers(0, 600)) * MS
        parent = f"s{draw(st.integers(0, i - 1))}" if i and draw(st.booleans()) else ""
        host = draw(st.sampled_from(HOSTS))
        spans[f"s{i}"] = Span(trace_id=TID, span_id=f"s{i}", parent_span_id=parent, name="op", start_ns=start,
                              end_ns=start + length, kind=draw(st.integers(0, 5)), service="svc-" + host,
                              instance=host, host=host)
    offsets = {h: draw(st.integers(-50, 50)) * MS for h in HOSTS if draw(st.booleans())}
    return spans, offsets


def rows_of(spans: dict[str, Span], logs: list[LogRecord], offsets: dict[str, int]) -> dict[str, object]:
    cfg = CorrelateConfig()
    stats: defaultdict[str, int] = defaultdict(int)
    out = build_rows(spans, logs, offsets, MetricIndex(cfg), cfg, TID, stats, (False, False, 2, 0))
    return {r.span_id: r for r in out}


@settings(max_examples=150, deadline=None)
@given(trace=traces())
def test_self_time_is_the_span_minus_the_union_of_its_clipped_children(trace):
    spans, offsets = trace
    from pipeline.correlate.joined_rows import _inside_parent  # the child placement rule under test elsewhere

    rows = rows_of(spans, [], offsets)
    peers = call_peers(spans)
    for sid, s in spans.items():
        off = offsets.get(s.host, 0)
        start, end = s.start_ns - off, s.end_ns - off
        kids = []
        for c in spans.values():
            if c.parent_span_id == sid:
                if c.host == s.host:
                    kids.append((c.start_ns - off, c.end_ns - off))
                else:
                    kids.append(_inside_parent(c, s, offsets, bool(peers[sid])))
        if not kids:
            assert rows[sid].self_time_ns == end - start
            continue
        # Covered time, millisecond by millisecond (every time here is a whole millisecond).
        covered = sum(1 for t in range(start, end, MS) if any(a <= t < b for a, b in kids)) * MS
        assert rows[sid].self_time_ns == max(0, end - start - covered)


@settings(max_examples=150, deadline=None)
@given(trace=traces(), data=st.data())
def test_logs_attach_by_the_stated_rule(trace, data):
    spans, offsets = trace
    window = CorrelateConfig().log_window_ns
    logs = []
    for i in range(data.draw(st.integers(0, 10))):
        named = data.draw(st.sampled_from(sorted(spans) + ["", "", "missing"]))
        host = data.draw(st.sampled_from(HOSTS))
        t = data.draw(st.integers(-1500, 2500)) * MS
        logs.append(LogRecord(time_ns=t, body=f"m{i}", trace_id=TID, span_id=named, host=host,
                              service=data.draw(st.sampled_from(["", "svc-" + host])), id=f"l{i:02d}"))
    got, miss = attach_logs(spans, logs, offsets, window)

    want: dict[str, list[str]] = defaultdict(list)
    want_miss = 0
    for lg in sorted(logs, key=lambda r: (r.time_ns or r.observed_ns, r.id)):
        t = lg.time_ns - offsets.get(lg.host, 0) if lg.time_ns else lg.observed_ns

        def bounds(s: Span) -> tuple[int, int]:
            return s.start_ns - offsets.get(s.host, 0), s.end_ns - offsets.get(s.host, 0)

        if lg.span_id:
            s = spans.get(lg.span_id)
            if s is not None and bounds(s)[0] - window <= t <= bounds(s)[1] + window:
                want[s.span_id].append(lg.id)
            else:
                want_miss += 1
            continue
        near = [s for s in spans.values() if bounds(s)[0] - window <= t <= bounds(s)[1] + window]
        if not near:
            want_miss += 1
            continue
        best = min(near, key=lambda s: (bool(lg.service) and s.service != lg.service,
                                        not bounds(s)[0] <= t <= bounds(s)[1], s.end_ns - s.start_ns, s.span_id))
        want[best.span_id].append(lg.id)
    assert {sid: [lg.id for lg in lst] for sid, lst in got.items()} == dict(want)
    assert miss == want_miss


def plain_solve(edges: dict[tuple[str, str], tuple[int, int]], bound: int) -> dict[str, int]:
    """Gauss-Seidel written out term by term, as DESIGN.md states the estimate."""
    adj: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for (p, c), (d, n) in sorted(edges.items()):
        adj[c].append((p, float(d), n))
        adj[p].append((c, -float(d), n))
    out: dict[str, int] = {}
    seen: set[str] = set()
    for first in sorted(adj):
        if first in seen:
            continue
        comp, off = [first], {first: 0.0}
        seen.add(first)
        for h in comp:
            for other, d, _ in adj[h]:
                if other not in seen:
                    seen.add(other)
                    off[other] = off[h] - d
                    comp.append(other)
        comp.sort()
        for _ in range(20):
            for h in comp:
                total = 0.0
                for o, d, n in adj[h]:
                    total += (off[o] + d) * n
                off[h] = total / sum(n for _, _, n in adj[h])
        if len(comp) < MIN_GROUP:
            continue
        anchor = sorted(off[h] for h in comp)[(len(comp) - 1) // 2]
        for h in comp:
            out[h] = max(-bound, min(bound, round(off[h] - anchor)))
    return out


@settings(max_examples=200, deadline=None)
@given(edges=st.dictionaries(st.tuples(st.sampled_from("pqrstu"), st.sampled_from("pqrstu")).filter(lambda e: e[0] != e[1]),
                             st.tuples(st.integers(-12 * S, 12 * S), st.integers(1, 200)), max_size=12))
def test_solver_gives_exactly_the_plain_gauss_seidel_result(edges):
    assert solve_offsets(edges, 10 * S) == plain_solve(edges, 10 * S)


def test_caps_hold_after_every_batch_even_when_a_poll_grew_the_pools():
    """A poll can add traces to the pools (an emitted multi-host trace waiting for its skew
    table is held twice); the next batch must still end under the caps, also when it only
    holds records of traces already live (small batches make that common)."""
    traffic = generate(600, seed=7, rate_per_s=4.0)
    items = sorted(traffic.arrival_order(), key=lambda x: x[0])
    cfg = CorrelateConfig(max_lateness_ns=45 * S, inactivity_ns=2 * S, skew_epoch_ns=5 * S,
                          max_traces=10, max_records=90)
    eng = Correlator(cfg)
    eng.add(metrics=traffic.metrics)
    grown = 0
    for i in range(0, len(items), 5):
        chunk = [r for _, _, r in items[i:i + 5]]
        eng.add([r for r in chunk if isinstance(r, Span)], [r for r in chunk if not isinstance(r, Span)])
        c = eng.counters()
        assert c["traces_in_flight"] + c["traces_retained"] + c["traces_unsettled"] <= cfg.max_traces, (i, c)
        assert c["buffered_records"] <= cfg.max_records, (i, c)
        eng.poll()
        c = eng.counters()
        grown += c["traces_in_flight"] + c["traces_retained"] + c["traces_unsettled"] > cfg.max_traces
    eng.flush_all()
    assert grown, "the traffic should make a poll push the pools past the trace cap"
    assert eng.counters()["traces_completed_early"] > 0
