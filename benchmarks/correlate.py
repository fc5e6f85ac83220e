"""Correlation engine: throughput beside a naive per-record dict join, and attach accuracy.

Sections (each adds named figures; `--json` prints them all as the last stdout line):
  engine     `pipeline.correlate.Correlator` over synthetic traffic delivered in arrival
             order in batches (add + poll, then flush_all), beside a naive per-record
             dict join of the same records (exact span-id joins, no windows, no skew, no
             watermarks) measured in the same run; both in records/s (spans + logs +
             metric points), best of the rounds, rounds interleaved.
  accuracy   the engine with default settings on synthetic traffic whose host clocks are
             off by up to +/-5 s, scored against the generator's answer key, with and
             without skew correction, pooled over several seeds.

    python benchmarks/correlate.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from bisect import bisect_right
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.correlate import CorrelateConfig, Correlator  # noqa: E402
from pipeline.correlate.synthetic import Traffic, generate, score  # noqa: E402

Batch = tuple[list, list, list]


def batches_of(traffic: Traffic, size: int) -> list[Batch]:
    """Arrival-ordered batches of (spans, logs, metric points), metrics interleaved by time."""
    items = traffic.arrival_order()
    items += [(p.time_ns, "metric", p) for p in traffic.metrics]
    items.sort(key=lambda x: x[0])
    out = []
    for i in range(0, len(items), size):
        chunk = items[i:i + size]
        out.append(([r for _, k, r in chunk if k == "span"], [r for _, k, r in chunk if k == "log"],
                    [r for _, k, r in chunk if k == "metric"]))
    return out


def run_engine(batches: list[Batch], config: CorrelateConfig) -> tuple[float, list]:
    eng = Correlator(config)
    rows: list = []
    t = time.perf_counter()
    for spans, logs, metrics in batches:
        eng.add(spans, logs, metrics)
        rows.extend(eng.poll())
    rows.extend(eng.flush_all())
    return time.perf_counter() - t, rows


def run_naive(batches: list[Batch]) -> tuple[float, list]:
    """What one writes first: a dict per record kind, joined at the end by exact ids; a
    span's metric reading is the series' last sample at or before its end."""
    t = time.perf_counter()
    spans: dict[tuple[str, str], dict] = {}
    logs: dict[tuple[str, str], list] = defaultdict(list)
    series: dict[tuple[str, str, str], list] = defaultdict(list)
    for bs, bl, bm in batches:
        for s in bs:
            spans[(s.trace_id, s.span_id)] = {
                "trace_id": s.trace_id, "span_id": s.span_id, "parent_span_id": s.parent_span_id,
                "name": s.name, "service": s.service, "host": s.host, "start_ns": s.start_ns,
                "end_ns": s.end_ns, "duration_ns": s.end_ns - s.start_ns, "status_code": s.status_code}
        for r in bl:
            if r.trace_id:
                logs[(r.trace_id, r.span_id)].append(r)
        for p in bm:
            series[(p.service, p.host, p.name)].append((p.time_ns, p.value))
    by_node: dict[tuple[str, str], list] = defaultdict(list)
    for (svc, host, name), pts in series.items():
        pts.sort()
        by_node[(svc, host)].append((name, [t for t, _ in pts], [v for _, v in pts]))
    rows = []
    for key, row in spans.items():
        attached = logs.get(key, ())
        row["log_ids"] = [r.id for r in attached]
        sev: dict[int, int] = {}
        for r in attached:
            sev[r.severity_number] = sev.get(r.severity_number, 0) + 1
        row["severity_counts"] = sev
        readings = {}
        for name, times, values in by_node.get((row["service"], row["host"]), ()):
            i = bisect_right(times, row["end_ns"]) - 1
            if i >= 0:
                readings[name] = values[i]
        row["metrics"] = readings
        rows.append(row)
    return time.perf_counter() - t, rows


def section_engine(args: argparse.Namespace) -> dict:
    n = 4_000 if args.quick else 15_000
    # 2 traces/s of event time: a fresh engine's skew tables mature after ~6.5 min of event
    # time (lateness 300 s + 6 epochs), so most of the run is steady state; the traces
    # before that are emitted twice (once more when their skew table is decided).
    traffic = generate(n, seed=args.seed, rate_per_s=2.0)
    batches = batches_of(traffic, args.batch)
    records = len(traffic.spans) + len(traffic.logs) + len(traffic.metrics)
    cfg = CorrelateConfig()
    best_e = best_n = float("inf")
    rows_e = rows_n = 0
    for _ in range(args.rounds):
        el, rows = run_engine(batches, cfg)
        best_e, rows_e = min(best_e, el), len({r.id for r in rows})
        el, rows = run_naive(batches)
        best_n, rows_n = min(best_n, el), len(rows)
    assert rows_e == rows_n == len(traffic.spans), (rows_e, rows_n, len(traffic.spans))
    eng, naive = records / best_e, records / best_n
    print(f"engine: {n} traces over {n / 2.0:.0f} s of event time, {records} records "
          f"({len(traffic.spans)} spans, {len(traffic.logs)} logs, {len(traffic.metrics)} metric points), "
          f"batches of {args.batch}, best of {args.rounds}")
    print(f"  correlator        {eng:>12,.0f} records/s")
    print(f"  naive dict join   {naive:>12,.0f} records/s")
    print(f"  ratio             {eng / naive:>12.2f}x")
    return {"engine_records_per_s": round(eng), "naive_records_per_s": round(naive),
            "engine_vs_naive": round(eng / naive, 3)}


def section_accuracy(args: argparse.Namespace) -> dict:
    n, seeds = (2_000, (1, 2, 3)) if args.quick else (5_000, (1, 2, 3, 4, 5))
    pooled: dict[str, list[float]] = defaultdict(list)
    for seed in seeds:
        traffic = generate(n, seed=seed, rate_per_s=5.0)
        batches = batches_of(traffic, args.batch)
        for label, cfg in (("fix", CorrelateConfig()), ("no_fix", CorrelateConfig(skew_correction=False))):
            _, rows = run_engine(batches, cfg)
            log_acc, metric_acc = score(traffic, rows)
            weight_l, weight_m = len(traffic.log_truth), len(traffic.metric_truth)
            pooled[label + "_log"].append((log_acc * weight_l, weight_l))
            pooled[label + "_metric"].append((metric_acc * weight_m, weight_m))
        skewed = sorted(f"{h} {o / 1e9:+.2f}s" for h, o in traffic.host_offsets.items() if o)
        fix, raw = pooled["fix_log"][-1], pooled["no_fix_log"][-1]
        print(f"accuracy: seed {seed}: logs {fix[0] / fix[1]:.5f} (no skew fix {raw[0] / raw[1]:.5f}); "
              f"skewed hosts {', '.join(skewed)}")

    def share(key: str) -> float:
        ok = sum(a for a, _ in pooled[key])
        total = sum(b for _, b in pooled[key])
        return ok / total

    figs = {"log_attach_accuracy": round(share("fix_log"), 5),
            "metric_attach_accuracy": round(share("fix_metric"), 5),
            "log_attach_accuracy_no_skew_fix": round(share("no_fix_log"), 5),
            "metric_attach_accuracy_no_skew_fix": round(share("no_fix_metric"), 5)}
    print(f"  {len(seeds)} seeds x {n} traces, default settings (lateness 300 s, whole run incl. cold start)")
    for k, v in figs.items():
        print(f"  {k:<36} {v:.5f}")
    return figs


SECTIONS = (section_engine, section_accuracy)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller runs (well under 2 minutes)")
    ap.add_argument("--json", action="store_true", help="print all figures as one JSON object last")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=2_000, help="records per add() call")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per contender")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    figures: dict = {}
    for section in SECTIONS:
        figures.update(section(args))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
