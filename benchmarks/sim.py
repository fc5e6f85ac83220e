"""Simulator output speed: records per second written to files, beside a baseline from the same run.

    telecorr: `Simulation(...)` + `write_files` for the shop preset (OTLP/JSON files, the default),
              i.e. generating traces, logs and metrics with faults and clock skew, encoding, writing;
    baseline: orjson serialising the *same* export requests, already parsed into Python dicts
              (no generation at all), and writing them to a file the same way.
The ratio telecorr/baseline says how close generation+encoding gets to bare serialisation.

    python benchmarks/sim.py [--quick] [--json] [--encoding otlp-json|otlp-proto|jsonl]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.sim.faults import parse_fault  # noqa: E402
from pipeline.sim.output import write_files  # noqa: E402
from pipeline.sim.simulator import SimConfig, Simulation  # noqa: E402

NS = 1_000_000_000
FAULTS = ("type=cpu,target=catalog,start=+10s,duration=20s", "type=network-delay,target=frontend->cart,start=+15s,duration=10s")


def run_sim(directory: Path, seconds: int, rps: float, encoding: str) -> tuple[int, float]:
    sim = Simulation(SimConfig(preset="shop", duration_ns=seconds * NS, rps=rps, seed=1, encoding=encoding,
                               faults=[parse_fault(f) for f in FAULTS]))
    began = time.perf_counter()
    counts = write_files(sim, directory)
    took = time.perf_counter() - began
    return counts["spans"] + counts["logs"] + counts["metrics"], took


def run_baseline(directory: Path, source: Path) -> tuple[int, float]:
    """Serialise the simulator's own OTLP/JSON requests from pre-built dicts."""
    requests, records = [], 0
    for name, inner in (("traces.jsonl", "spans"), ("logs.jsonl", "logRecords"), ("metrics.jsonl", "metrics")):
        for line in (source / name).read_bytes().splitlines():
            doc = orjson.loads(line)
            requests.append((name, doc))
            top = next(iter(doc.values()))
            records += sum(len(s[inner]) for r in top for s in r[next(k for k in r if k.startswith("scope"))])
    began = time.perf_counter()
    files = {n: open(directory / n, "wb") for n in ("traces.jsonl", "logs.jsonl", "metrics.jsonl")}
    for name, doc in requests:
        files[name].write(orjson.dumps(doc) + b"\n")
    for f in files.values():
        f.close()
    return records, time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller run (well under 2 minutes)")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object of the figures")
    ap.add_argument("--encoding", choices=["otlp-json", "otlp-proto", "jsonl"], default="otlp-json")
    args = ap.parse_args()
    seconds, rps = (60, 400) if args.quick else (300, 600)
    with tempfile.TemporaryDirectory() as tmp:
        sim_dir, json_dir, base_dir = Path(tmp, "sim"), Path(tmp, "json"), Path(tmp, "base")
        records, took = run_sim(sim_dir, seconds, rps, args.encoding)
        if args.encoding == "otlp-json":
            json_dir = sim_dir
        else:
            run_sim(json_dir, seconds, rps, "otlp-json")
        base_dir.mkdir()
        base_records, base_took = run_baseline(base_dir, json_dir)
        size = sum(p.stat().st_size for p in sim_dir.iterdir())
    rate, base_rate = records / took, base_records / base_took
    sim_seconds_per_s = seconds / took
    print(f"workload: shop preset, {seconds}s simulated at {rps:g} requests/s, 2 faults, skewed clocks, "
          f"{args.encoding} files")
    print(f"telecorr simulate: {records:,} records in {took:.2f}s = {rate:,.0f} records/s "
          f"({size / took / 1e6:,.0f} MB/s, {sim_seconds_per_s:.1f}x real time)")
    print(f"baseline orjson of pre-built request dicts: {base_records:,} records in {base_took:.2f}s = "
          f"{base_rate:,.0f} records/s")
    print(f"ratio telecorr/baseline: {rate / base_rate:.2f}")
    if args.json:
        print(orjson.dumps({"records": records, "records_per_s": round(rate), "baseline_records_per_s": round(base_rate),
                            "ratio": round(rate / base_rate, 3), "seconds": round(took, 3),
                            "simulated_seconds_per_s": round(sim_seconds_per_s, 2), "encoding": args.encoding,
                            "quick": args.quick}).decode())


if __name__ == "__main__":
    main()
