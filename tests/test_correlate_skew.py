"""Clock-skew estimation: pair evidence, robust per-host offsets, bounds, determinism."""

from __future__ import annotations

import random

import pytest

from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.correlate.skew import SkewEstimator, pair_delta, solve_offsets
from benchmarks.harness.synthetic import generate
from pipeline.model import Span

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S


def sp(sid: str, host: str, start: int, end: int, parent: str = "", kind: int = 2) -> Span:
    return Span(trace_id="t" * 32, span_id=sid, parent_span_id=parent, name="x", start_ns=start, end_ns=end,
                kind=kind, host=host)


def test_pair_delta_splits_slack_and_ignores_uninformative_pairs():
    p = sp("p", "a", 0, 100 * MS, kind=3)
    c = sp("c", "b", 5 * S + 10 * MS, 5 * S + 80 * MS)  # true slack 10 ms in, 20 ms out
    assert pair_delta(p, c) == 5 * S - 5 * MS
    assert pair_delta(p, sp("c", "a", 10, 20)) is None  # same host
    assert pair_delta(p, sp("c", "b", 10, 20, kind=5)) is None  # consumer
    assert pair_delta(sp("p", "a", 0, 10, kind=4), sp("c", "b", 1, 2)) is None  # child of a producer
    assert pair_delta(p, sp("c", "b", 0, 200 * MS)) is None  # longer than its parent


def test_solve_offsets_chain_cycle_anchor_and_bound():
    edges = {("a", "b"): (2 * S, 10), ("b", "c"): (1 * S, 10), ("a", "c"): (3 * S, 10),
             ("a", "d"): (0, 10), ("a", "e"): (0, 10)}
    got = solve_offsets(edges, max_skew_ns=10 * S)
    assert got == {"a": 0, "b": 2 * S, "c": 3 * S, "d": 0, "e": 0}  # median host (a, d, e) at 0
    got = solve_offsets({("a", "b"): (30 * S, 5), ("a", "c"): (0, 5)}, max_skew_ns=10 * S)
    assert got == {"a": 0, "b": 10 * S, "c": 0}  # bounded
    # Unconnected groups are anchored separately; a pair of hosts alone cannot say which
    # clock is right, so it stays out of the table.
    got = solve_offsets({("a", "b"): (S, 3), ("a", "c"): (0, 3), ("x", "y"): (-S, 3), ("x", "z"): (-S, 3),
                         ("p", "q"): (S, 3)}, max_skew_ns=10 * S)
    assert got == {"a": 0, "b": S, "c": 0, "x": S, "y": 0, "z": 0}  # y, z agree: x is off


def noisy_pairs(rng: random.Random, truth: dict[str, int], n: int, t0: int = T0, span_s: float = 60.0,
                noisy_host: str = "", outliers: float = 0.1) -> list[tuple[Span, Span]]:
    """Parent (client) / child (server) pairs across hosts with asymmetric latency, a jittery
    host, and a share of 'children' that start late and run past their parent."""
    hosts = sorted(truth)
    out = []
    for i in range(n):
        ph, ch = rng.sample(hosts, 2)
        start = t0 + int(rng.random() * span_s * S)
        dur = rng.randint(20, 500) * MS
        lat_in = int(rng.expovariate(1 / (2 * MS)))
        lat_out = int(rng.expovariate(1 / (2 * MS)))
        cs, ce = start + lat_in, start + dur - lat_out
        if rng.random() < outliers:  # fire-and-forget work that outlives the caller
            cs = start + dur * 3 // 4
            ce = cs + dur // 2
        if ce <= cs:
            continue
        jitter = rng.randint(-50 * MS, 50 * MS) if ch == noisy_host else 0
        p = sp(f"p{i:08x}", ph, start + truth[ph], start + dur + truth[ph], kind=3)
        c = sp(f"{rng.getrandbits(60):015x}", ch, cs + truth[ch] + jitter, ce + truth[ch] + jitter, parent=p.span_id)
        out.append((p, c))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_estimates_known_offsets_within_tolerance(seed):
    rng = random.Random(seed)
    truth = {f"h{i}": 0 for i in range(12)}
    for h in rng.sample(sorted(truth), 5):
        truth[h] = rng.randint(-5 * S, 5 * S)
    noisy = rng.choice(sorted(truth))
    cfg = CorrelateConfig(max_lateness_ns=30 * S, skew_history_epochs=30)
    est = SkewEstimator(cfg)
    for p, c in noisy_pairs(rng, truth, 20_000, span_s=300.0, noisy_host=noisy):
        est.add_pair(p, c)
    epoch = est.epoch_of(T0 + 300 * S) + est.lag_epochs
    got = est.table(epoch, final=True)
    assert set(got) == set(truth)
    err = {h: abs(got[h] - truth[h]) for h in truth}
    assert max(err.values()) <= 5 * MS, err
    assert est.current_offsets() == got


def test_engine_learns_offsets_from_traffic_and_exposes_them():
    traffic = generate(4000, seed=7, rate_per_s=40.0, with_metrics=False)
    eng = Correlator(CorrelateConfig(max_lateness_ns=20 * S))
    items = traffic.arrival_order()
    for i in range(0, len(items), 1000):
        chunk = items[i:i + 1000]
        eng.add([r for _, k, r in chunk if k == "span"], [r for _, k, r in chunk if k == "log"])
        eng.poll()
    got = eng.current_offsets()
    assert got, "no final table after 100 s of traffic"
    for h, off in got.items():
        assert abs(off - traffic.host_offsets[h]) <= 3 * MS, (h, off, traffic.host_offsets[h])


def test_sketches_merge_to_the_same_table_as_one_estimator():
    rng = random.Random(5)
    truth = {"a": 0, "b": 2 * S, "c": -3 * S, "d": 0}
    pairs = noisy_pairs(rng, truth, 3000, span_s=100.0)
    cfg = CorrelateConfig(max_lateness_ns=10 * S, skew_samples_per_bucket=16)
    one, left, right = SkewEstimator(cfg), SkewEstimator(cfg), SkewEstimator(cfg)
    for i, (p, c) in enumerate(pairs):
        one.add_pair(p, c)
        (left if i % 2 else right).add_pair(p, c)
        left.add_pair(p, c) if i % 7 == 0 else None  # some pairs seen by both: must collapse
    left.merge_samples(right.export_samples())
    e = one.epoch_of(T0 + 100 * S) + one.lag_epochs
    assert left.table(e, final=True) == one.table(e, final=True)


def test_table_uses_only_epochs_older_than_the_lag():
    cfg = CorrelateConfig(max_lateness_ns=30 * S)
    est = SkewEstimator(cfg)
    rng = random.Random(3)
    for p, c in noisy_pairs(rng, {"a": 0, "b": S, "c": 0}, 500, span_s=10.0, outliers=0.0):
        est.add_pair(p, c)
    first = est.epoch_of(T0)
    assert est.table(first + est.lag_epochs, final=False) == {}  # samples not old enough yet
    assert est.table(first + est.lag_epochs + 2, final=False)["b"] == pytest.approx(S, abs=2 * MS)


def test_trace_local_fallback_resolves_from_root_host():
    cfg = CorrelateConfig()
    est = SkewEstimator(cfg)
    spans = {s.span_id: s for s in (
        sp("r", "front", T0, T0 + 100 * MS),
        sp("c1", "db", T0 + 2 * S + 10 * MS, T0 + 2 * S + 90 * MS, parent="r"),
        sp("c2", "cache", T0 - S + 40 * MS, T0 - S + 60 * MS, parent="c1"),
        sp("m", "mail", T0 + 7 * S, T0 + 9 * S, parent="r", kind=5),
    )}
    got = est.trace_offsets(spans, {})
    assert got == {"front": 0, "db": 2 * S, "cache": -S, "mail": 0}
    # A known host from the table anchors the rest instead of the root.
    got = est.trace_offsets(spans, {"db": 0})
    assert got == {"front": -2 * S, "cache": -3 * S, "mail": 0}
    assert est.trace_offsets(spans, {"db": 0, "front": 0, "cache": 0, "mail": 0}) == {}
