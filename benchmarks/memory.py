"""Join memory: what the correlation engine holds per record, and how much it holds over time.

The issue's last goal is "memory per worker stays under 2 GiB"; the engine's buffer is the
part of a worker that grows with the input rate. Two sections, on simulated shop traffic fed
the worker's way (OTLP protobuf → `Ingestor` → by-trace messages → `read_by_trace` → `add`):

  per-record  traced Python memory (tracemalloc) the engine holds per buffered span/log,
              beside the same records' size on the by-trace wire (the bytes the ledger holds
              for a pending record); and what `max_buffered_records` (the cap) costs at that.
  over-time   a live stream in event time from a cold start: traces in flight, kept for
              amendments, unsettled (emitted before their skew table was decided) and the
              records the ledger would hold unacknowledged (those of pending traces), every
              20 s, beside the bounds docs/architecture.md "Memory" states for them.
  cpu         µs of CPU per record for `add` and `poll_columns` over the whole stream (the
              buffer filled and aged out), with the field pool and beside the same engine
              with sharing off, rounds interleaved: sharing moves the freeing of duplicate
              values from eviction (poll) to arrival (add).

    python benchmarks/memory.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.config import Settings  # noqa: E402
from pipeline.correlate import CorrelateConfig, Correlator  # noqa: E402
from pipeline.ingest.stage import Ingestor  # noqa: E402
from pipeline.shuffle.route import by_trace_messages  # noqa: E402
from pipeline.shuffle.wirecheck import read_by_trace  # noqa: E402
from pipeline.sim import SimConfig, Simulation  # noqa: E402
from pipeline.worker.runtime import tune_gc  # noqa: E402

NS = 1_000_000_000
_TOPIC = {"traces": "otlp_spans", "logs": "otlp_logs"}


def by_trace_stream(rps: float, seconds: float, seed: int) -> list[tuple[int, bytes]]:
    """(newest event time, by-trace message) in arrival order: the shop's spans and logs
    decoded and re-keyed as the ingest agents do (one partition, so one engine sees all)."""
    sim = Simulation(SimConfig(preset="shop", duration_ns=int(seconds * NS), rps=rps, seed=seed,
                               encoding="otlp-proto", batch=64))
    ing = Ingestor(Settings())
    out = []
    for signal, payload in sim.messages():
        if signal not in _TOPIC:
            continue
        res = ing.process(_TOPIC[signal], [payload], [0])
        times = res.spans.cols["end_ns"] + [t or o for t, o in zip(res.logs.cols["time_ns"],
                                                                   res.logs.cols["observed_ns"])]
        for _, value in by_trace_messages(res.spans, res.logs, 1):
            out.append((max(times), value))
    out.sort(key=lambda m: m[0])
    return out


def per_record(stream: list[tuple[int, bytes]]) -> dict:
    """Bytes the engine holds per buffered record, with nothing completed yet (no poll)."""
    eng = Correlator(CorrelateConfig())
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    wire = 0
    for _, value in stream:
        spans, logs, _ = read_by_trace(value)
        eng.add(spans, logs)
        wire += len(value)
    del spans, logs
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    n = eng.buffered_records()
    c = eng.counters()
    per = held / n
    cap = CorrelateConfig().max_records
    print(f"per-record: {n:,} spans+logs buffered in {c['traces_in_flight']:,} traces: engine holds "
          f"{held / 2**20:,.1f} MiB = {per:,.0f} bytes per record")
    print(f"  baseline, the same records on the by-trace wire:      {wire / n:,.0f} bytes per record "
          f"(ratio {per / (wire / n):.2f}x)")
    print(f"  at the default cap (max_buffered_records {cap:,}):   {per * cap / 2**30:,.2f} GiB")
    return {"engine_bytes_per_record": round(per), "wire_bytes_per_record": round(wire / n),
            "engine_gib_at_default_cap": round(per * cap / 2**30, 3)}


def over_time(stream: list[tuple[int, bytes]], seconds: float) -> dict:
    """Engine state every 20 s of event time, fed one second of arrivals at a time."""
    cfg = CorrelateConfig()
    eng = Correlator(cfg)
    t0 = stream[0][0]
    i, step, rows, total = 0, 0, [], 0
    print("over-time: event s | in flight | kept for amends | unsettled | buffered | "
          "held by the ledger (records of pending traces) | oldest pending, s")
    while i < len(stream):
        step += 1
        while i < len(stream) and stream[i][0] < t0 + step * NS:
            spans, logs, _ = read_by_trace(stream[i][1])
            eng.add(spans, logs)
            total += len(spans) + len(logs)
            i += 1
        eng.poll_columns()
        if step % 20 == 0:
            pending = [*eng._live.values(), *(t for k, t in eng._unsettled.items() if k not in eng._live)]
            wm = eng.watermark() or t0
            c = eng.counters()
            row = (step, c["traces_in_flight"], c["traces_retained"], c["traces_unsettled"], c["buffered_records"],
                   sum(t.count for t in pending), max(((wm - t.anchor) / NS for t in pending), default=0.0))
            rows.append(row)
            print("  {:>5} | {:>7,} | {:>7,} | {:>7,} | {:>9,} | {:>9,} | {:>6.1f}".format(*row))
    rate = total / step
    bound = rate * (cfg.max_lateness_ns + cfg.inactivity_ns) / NS
    steady = [r for r in rows if r[0] > rows[-1][0] - 120]  # the last two minutes
    cold = max(r[5] for r in rows)
    print(f"  ledger-held records peak {cold:,} (cold start: traces wait for the first mature skew table), "
          f"steady {max(r[5] for r in steady):,}; kept-for-amendment records steady {steady[-1][4]:,} "
          f"(bound: {rate:,.0f} records/s of event time x (lateness + inactivity gap) = {bound:,.0f})")
    return {"held_records_cold_peak": cold, "held_records_steady_max": max(r[5] for r in steady),
            "buffered_records_steady": steady[-1][4], "unsettled_steady_max": max(r[3] for r in steady),
            "kept_bound_records": round(bound)}


class _NoSharing:
    """A field pool that shares nothing: the engine as it was before the pool."""

    def share_spans(self, spans: list) -> None:
        pass

    def share_logs(self, logs: list) -> None:
        pass


def cpu(stream: list[tuple[int, bytes]], rounds: int) -> dict:
    """Best-of-rounds CPU per record of add and poll, with and without sharing."""
    tune_gc()
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for mode in ("off", "pool"):
            eng = Correlator(CorrelateConfig())
            if mode == "off":
                eng._pool = _NoSharing()
            t0, i, step, n, add_s, poll_s = stream[0][0], 0, 0, 0, 0.0, 0.0
            while i < len(stream):
                step += 1
                batch = []
                while i < len(stream) and stream[i][0] < t0 + step * NS:
                    batch.append(read_by_trace(stream[i][1])[:2])
                    i += 1
                a = time.thread_time()
                for spans, logs in batch:
                    eng.add(spans, logs)
                    n += len(spans) + len(logs)
                b = time.thread_time()
                eng.poll_columns()
                add_s, poll_s = add_s + b - a, poll_s + time.thread_time() - b
            del eng
            gc.collect()
            got = (add_s * 1e6 / n, poll_s * 1e6 / n)
            if mode not in best or sum(got) < sum(best[mode]):
                best[mode] = got
    for mode, label in (("pool", "with the field pool"), ("off", "baseline, sharing off")):
        a, p = best[mode]
        print(f"cpu: {label:<22} add {a:5.2f} + poll {p:5.2f} = {a + p:5.2f} µs per record")
    return {"us_per_record_add_poll": round(sum(best["pool"]), 3),
            "us_per_record_add_poll_unshared": round(sum(best["off"]), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a shorter stream (under 2 minutes)")
    ap.add_argument("--json", action="store_true", help="print all figures as one JSON object last")
    ap.add_argument("--rps", type=float, default=20.0, help="shop requests per second of event time")
    ap.add_argument("--seconds", type=float, default=0, help="stream length in event time (default 600/900)")
    ap.add_argument("--rounds", type=int, default=0, help="cpu rounds per contender (default 2/3)")
    args = ap.parse_args()
    seconds = args.seconds or (600 if args.quick else 900)
    stream = by_trace_stream(args.rps, seconds, seed=5)
    figures = per_record(stream[: len(stream) // 4])
    figures.update(over_time(stream, seconds))
    figures.update(cpu(stream, args.rounds or (2 if args.quick else 3)))
    if args.json:
        print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
