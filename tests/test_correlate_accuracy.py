"""Attach accuracy against ground truth on synthetic traffic with clocks off by up to 5 s."""

from __future__ import annotations

import pytest

from pipeline.correlate import CorrelateConfig, Correlator
from benchmarks.harness.synthetic import Traffic, generate, score

S = 1_000_000_000
T0 = 1_700_000_000 * S


def run(traffic: Traffic, **cfg) -> tuple[Correlator, list]:
    eng = Correlator(CorrelateConfig(**cfg))
    eng.add(metrics=traffic.metrics)
    items = traffic.arrival_order()
    rows = []
    for i in range(0, len(items), 1000):
        chunk = items[i:i + 1000]
        eng.add([r for _, k, r in chunk if k == "span"], [r for _, k, r in chunk if k == "log"])
        rows += eng.poll()
    rows += eng.flush_all()
    return eng, rows


@pytest.mark.parametrize("seed", [1, 3])
def test_attach_accuracy_with_and_without_skew_correction(seed):
    traffic = generate(2500, seed=seed, rate_per_s=5.0)
    assert max(abs(o) for o in traffic.host_offsets.values()) > 1 * S  # skew beyond the log window
    _, rows = run(traffic, max_lateness_ns=60 * S)
    log_acc, metric_acc = score(traffic, rows)
    assert log_acc >= 0.999
    assert metric_acc >= 0.99
    _, rows = run(traffic, max_lateness_ns=60 * S, skew_correction=False)
    log_acc_raw, _ = score(traffic, rows)
    assert log_acc_raw < log_acc - 0.03  # observed-time logs miss their skewed spans


def test_only_hosts_without_synchronous_evidence_lose_logs():
    # Seed 4 skews a host that only ever runs async consumers: no pair bounds its clock, so
    # its logs that carry only the collector's time are the misses -- and only those.
    traffic = generate(2500, seed=4, rate_per_s=5.0)
    _, rows = run(traffic, max_lateness_ns=60 * S)
    final = {}
    for r in rows:
        if r.id not in final or r.version > final[r.id].version:
            final[r.id] = r
    attached = {lid: r.span_id for r in final.values() for lid in r.log_ids}
    host_of = {s.span_id: s.host for s in traffic.spans}
    missed_hosts = {host_of[sid] for lid, sid in traffic.log_truth.items() if attached.get(lid) != sid}
    assert missed_hosts == {"mailer-0"}
    assert traffic.host_offsets["mailer-0"] != 0
