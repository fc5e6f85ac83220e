"""The correlation side stage by stage, in one process, on the simulator's shop (as OTLP
protobuf, decoded by the ingest path): µs of CPU per input record for reading by-trace
messages (v1 record objects and v2 columns, beside orjson parsing the same v2 bytes alone,
the floor for that stage), reading the metric points' `telemetry.metrics` values, the join
(`Correlator.add`), building rows as the worker does
(`poll_columns`/`flush_columns`; `poll`/`flush_all` on a checkout without them) and turning
them into the store's insert columns (`correlated_columns`, the sink's step), best of the
rounds, with the worker's GC settings. Which modules ran compiled is printed, and a digest of
every correlated row version's insert columns (equal on two checkouts: the same rows).

    python benchmarks/correlate_stages.py [--quick] [--json] [--rounds N]

Runs against the checkout it sits in (or PYTHONPATH); on a checkout without v2 it measures v1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.config import Settings  # noqa: E402
from pipeline.correlate import CorrelateConfig, Correlator  # noqa: E402
from pipeline.ingest.stage import Ingestor  # noqa: E402
from pipeline.shuffle.route import by_trace_messages, metric_messages, read_by_trace, read_metrics  # noqa: E402
from pipeline.sim import SimConfig, Simulation, kafka_messages  # noqa: E402
from pipeline.store.columnar import correlated_columns  # noqa: E402
from pipeline.worker.runtime import tune_gc  # noqa: E402

try:  # v2 (columns): this checkout's reader and the tests' encoder
    from pipeline.compiled import build_status
    from tests.wire_v2 import v2_message
except ImportError:  # an older checkout: v1 only
    build_status, v2_message = (lambda: {}), None

NS = 1_000_000_000
PARTITIONS = 4


def feed(seconds: float, rps: float, seed: int) -> tuple[list, int]:
    """Per simulator message: its metric points and its by-trace messages (partition, v1, v2)."""
    sim = Simulation(SimConfig(preset="shop", duration_ns=int(seconds * NS), rps=rps, seed=seed,
                               encoding="otlp-proto", batch=64))
    ingestor = Ingestor(Settings())
    out, records = [], 0
    for topic, _, value in kafka_messages(sim, tempfile.gettempdir()):
        res = ingestor.process(topic, [value], [0])
        records += len(res.spans) + len(res.logs) + len(res.metrics)
        msgs = [(p, v, v2_message(res_s, res_l) if v2_message else None)
                for p, v in by_trace_messages(res.spans, res.logs, PARTITIONS)
                for res_s, res_l, _ in [read_by_trace(v)]]
        out.append((metric_messages(res.metrics) if len(res.metrics) else [], msgs))
    return out, records


def one_round(batches: list) -> dict[str, float]:
    clock = time.thread_time
    took = dict.fromkeys(("wire_v1", "wire_v2", "orjson_v2", "metrics_read", "join", "rows", "insert_columns"), 0.0)
    digest = hashlib.sha256()  # every correlated row version's insert columns, in emission order
    points = 0
    eng = Correlator(CorrelateConfig())
    poll = getattr(eng, "poll_columns", eng.poll)  # the worker's path, where the checkout has it
    flush = getattr(eng, "flush_columns", eng.flush_all)
    rows = 0
    for metrics, msgs in batches:
        t0 = clock()
        decoded = [(p, read_by_trace(v1)) for p, v1, _ in msgs]
        t1 = clock()
        took["wire_v1"] += t1 - t0
        if v2_message:  # each list is freed outside the timed spans: no stage pays another's
            decoded = None
            t1 = clock()
            decoded = [(p, read_by_trace(v2)) for p, _, v2 in msgs]
            t2 = clock()
            parsed = [orjson.loads(v2) for _, _, v2 in msgs]
            t3 = clock()
            del parsed
            took["wire_v2"] += t2 - t1
            took["orjson_v2"] += t3 - t2
        t = clock()
        metrics = [read_metrics(v) for v in metrics]
        t3 = clock()
        took["metrics_read"] += t3 - t
        for batch in metrics:
            points += len(batch)
            eng.add(metrics=batch)
        for p, (spans, logs, _) in decoded:
            eng.add(spans, logs, partition=p)
        t4 = clock()
        out = poll()
        t5 = clock()
        cols = correlated_columns(out) if out else None
        t6 = clock()
        if cols:
            digest.update(orjson.dumps(cols))
        rows += len(out)
        took["join"] += t4 - t3
        took["rows"] += t5 - t4
        took["insert_columns"] += t6 - t5
    t = clock()
    out = flush()
    t1 = clock()
    cols = correlated_columns(out)
    took["rows"] += t1 - t
    took["insert_columns"] += clock() - t1
    digest.update(orjson.dumps(cols))
    rows += len(out)
    took["row_versions"] = rows
    took["points"] = points
    took["digest"] = digest.hexdigest()
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="40 s of shop traffic (else 120 s)")
    ap.add_argument("--json", action="store_true", help="print all figures as one JSON object last")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    batches, records = feed(40 if args.quick else 120, 100, args.seed)
    tune_gc()  # the worker's GC settings (at default thresholds GC takes a third of rows)
    best: dict[str, float] = {}
    digests = set()
    for _ in range(args.rounds):
        took = one_round(batches)
        digests.add(took.pop("digest"))
        for k, v in took.items():
            best[k] = min(best.get(k, v), v)
    versions = int(best.pop("row_versions"))
    points = int(best.pop("points"))
    read_per_point = best["metrics_read"] * 1e6 / points if points else 0.0
    us = {k: v * 1e6 / records for k, v in best.items() if v or k == "wire_v1"}
    wire = "wire_v2" if "wire_v2" in us else "wire_v1"
    total = us[wire] + us["join"] + us["rows"]
    with_insert = total + us["insert_columns"]
    status = build_status()
    print(f"correlate stages: shop, {records} records in, {versions} row versions out; "
          f"compiled: {sum(status.values())} of {len(status)} hot modules")
    for k, v in us.items():
        print(f"  {k:<28}{v:>9.2f} µs/record")
    if "orjson_v2" in us:
        print(f"  v2 read vs orjson alone    {us['orjson_v2'] / us['wire_v2']:>9.2f}x")
    print(f"  {wire} + join + rows{total:>17.2f} µs/record = {1e6 / total:,.0f} records/s")
    print(f"  ... + insert columns{with_insert:>17.2f} µs/record = {1e6 / with_insert:,.0f} records/s")
    print(f"  metric points: {points}, read from telemetry.metrics values at {read_per_point:.2f} µs/point")
    print(f"digest {' '.join(sorted(digests))}")  # one unless rounds differed
    if args.json:
        print(json.dumps({**{f"us_per_record_{k}": round(v, 3) for k, v in us.items()},
                          "stages_records_per_s": round(1e6 / total),
                          "stages_with_insert_columns_records_per_s": round(1e6 / with_insert),
                          "compiled_modules": sum(status.values()),
                          "metrics_read_us_per_point": round(read_per_point, 3), "digest": sorted(digests)[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
