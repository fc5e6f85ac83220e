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
  e2e        on a local broker this script starts (and stops): simulated shop traffic
             published up front, then `telecorr worker --stop-when-idle` from its first
             consumed batch to its last correlated write, beside a bare aiokafka consumer
             reading the same messages; both in input records/s; and the worker's peak
             RSS (`worker_peak_rss_mib`).
  freshness  the shop produced live (each message when the wall clock reaches its newest
             record's time) into a worker that serves the API; for sampled traces, the
             wall time from producing the trace's last record until GET /v1/traces/{id}
             shows every span correlated, minus trace_inactivity_s; beside the same
             traces' raw freshness (until every span is queryable at all, uncorrelated).

    python benchmarks/correlate.py [--quick] [--json] [--only SECTION ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest import raw_consume  # noqa: E402  (benchmarks/ingest.py: the same raw baseline)

from pipeline.column_batch import ColumnBatch  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.correlate import CorrelateConfig, Correlator  # noqa: E402
from benchmarks.harness.peak_rss import run_measured  # noqa: E402
from benchmarks.harness.synthetic import Traffic, generate, score  # noqa: E402
from pipeline.kafka.io import publish  # noqa: E402
from pipeline.sim import SimConfig, Simulation, kafka_messages  # noqa: E402
from pipeline.model import CorrelatedSpan  # noqa: E402

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
    """Timed as the worker uses it (rows as insert columns); records are made after the clock."""
    eng = Correlator(config)
    rows = ColumnBatch(CorrelatedSpan)
    t = time.perf_counter()
    for spans, logs, metrics in batches:
        eng.add(spans, logs, metrics)
        rows.extend(eng.poll_columns())
    rows.extend(eng.flush_columns())
    return time.perf_counter() - t, rows.records()


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


NS = 1_000_000_000
INACTIVITY_S = Settings().trace_inactivity_s  # the workers below run with default settings
INPUT_TOPICS = ("otlp_spans", "otlp_logs", "otlp_metrics")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalBroker:
    """The local broker on a free port with its own state dir; stopped (only this one) on exit."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._env = dict(os.environ, KAFKA_PORT=str(self.port), TELECORR_STATE_DIR=str(state_dir),
                         PYTHON=sys.executable)

    def __enter__(self) -> LocalBroker:
        subprocess.run(["bash", str(REPO / "deploy/kafka/up.sh")], env=self._env, check=True, capture_output=True)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["bash", str(REPO / "deploy/kafka/down.sh")], env=self._env, check=False,
                       capture_output=True)


def shop(rps: float, seconds: float, seed: int, start_ns: int | None = None) -> tuple[list, dict]:
    """Simulated shop traffic as OTLP protobuf messages of 64 records (as a collector would
    batch them), without clock skew: message times are then true times, which the live run
    uses to pace production. Returns the messages and the simulator's record counts."""
    sim = Simulation(SimConfig(preset="shop", duration_ns=int(seconds * NS), rps=rps, seed=seed, start_ns=start_ns,
                               encoding="otlp-proto", batch=64, random_skew=False))
    msgs = list(kafka_messages(sim, tempfile.gettempdir()))
    return msgs, sim.ground_truth()["counts"]


def worker_env(broker: str, prefix: str, chdb_dir: Path, progress_s: float = 0.5) -> dict[str, str]:
    """Default settings apart from where to read and write (and quicker progress lines)."""
    return dict(os.environ, TELECORR_BROKER=broker, TELECORR_TOPIC_PREFIX=prefix,
                TELECORR_CLICKHOUSE=f"chdb://{chdb_dir}", TELECORR_GROUP_ID="bench-" + uuid.uuid4().hex[:8],
                TELECORR_PROGRESS_S=str(progress_s))


def worker_events(path: Path) -> list[dict]:
    """The worker's structured stderr lines so far."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith('{"ts"'):
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                pass  # a line still being written
    return out


def sql(chdb_dir: Path, query: str) -> list[dict]:
    """A read through `telecorr sql` (after the worker, which owned the directory, exited)."""
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "--clickhouse", f"chdb://{chdb_dir}", "sql", query,
                          "--format", "json"], capture_output=True, text=True, timeout=300, cwd=REPO)
    if res.returncode != 0:
        raise SystemExit(f"telecorr sql failed: {res.stderr[-2000:]}")
    return [orjson.loads(line) for line in res.stdout.splitlines() if line.strip()]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1))]


def section_e2e(args: argparse.Namespace, broker: str, work: Path) -> dict:
    # Long in event time, so traces completed only by the final flush (the run's last
    # inactivity gap) are a small share; a fresh engine still emits multi-host traces twice
    # during its first minutes (see section_engine), which is part of the figure. A backlog
    # longer than max_lateness_s (300 s) is fine: the watermark waits for the slowest input
    # (--e2e-seconds 480 checks it; the too-late counters are printed).
    rps = args.e2e_rps or 100
    seconds = args.e2e_seconds or (40 if args.quick else 200)
    msgs, counts = shop(rps, seconds, args.seed)
    records = counts["spans"] + counts["logs"] + counts["metrics"]
    prefix = "tput."
    publish(Settings(broker=broker, topic_prefix=prefix), msgs)
    raw_s = asyncio.run(raw_consume(broker, [prefix + t for t in INPUT_TOPICS], len(msgs)))

    chdb_dir, err_path = work / "tput-ch", work / "tput-worker.err"
    idle_s = 3.0
    with open(err_path, "w") as err:
        rc, peak_mib = run_measured([sys.executable, "-m", "pipeline.cli", "worker", "--stop-when-idle", str(idle_s)],
                                    timeout=1800, env=worker_env(broker, prefix, chdb_dir), stdout=subprocess.DEVNULL,
                                    stderr=err, cwd=REPO)
    stops = [e for e in worker_events(err_path) if e.get("event") == "idle-stop"]
    if rc != 0 or not stops:
        raise SystemExit(f"worker failed: {err_path.read_text()[-3000:]}")
    stop = stops[-1]
    # The idle-stop line is written after `idle_s` without any work (checked every 0.5 s) and
    # after the final flush: take the wait off, the check's slack (<= 0.5 s) counts against us.
    took = stop["ts"] - idle_s - stop["first_batch_ts"]
    rows = sql(chdb_dir, "SELECT uniqExact(id) AS n, countIf(completed_early) AS early FROM correlated_spans")[0]
    if int(rows["n"]) != counts["spans"]:
        raise SystemExit(f"e2e: {rows['n']} correlated rows for {counts['spans']} spans")
    e2e, raw = records / took, records / raw_s
    print(f"e2e: shop at {rps} req/s for {seconds} s of event time: {records} records ({counts['spans']} spans, "
          f"{counts['logs']} logs, {counts['metrics']} metric points) in {len(msgs)} messages; "
          f"{rows['n']} correlated rows, one per span ({rows['early']} completed early); "
          f"{stop['stored'].get('correlated_spans', 0)} row versions written (cold-start re-emissions included)")
    cc = stop["correlation"]
    print(f"  engine counters: too late (raw only) {cc['too_late_spans']} spans, {cc['too_late_logs']} logs; "
          f"late amends {cc['late_amends']}; skew re-emissions {cc['skew_resettled']}")
    print(f"  telecorr worker Kafka -> correlated rows {e2e:>12,.0f} records/s ({took:.2f} s)")
    print(f"  raw aiokafka consume, same messages      {raw:>12,.0f} records/s ({raw_s:.2f} s)")
    print(f"  ratio                                    {e2e / raw:>12.3f}x")
    print(f"  worker peak RSS                          {peak_mib:>12,.0f} MiB (goal < 2048)")
    out = {"e2e_records_per_s": round(e2e), "raw_consume_records_per_s": round(raw),
           "e2e_vs_raw_consume": round(e2e / raw, 4), "worker_peak_rss_mib": round(peak_mib, 1)}
    # Where the worker's time went, in µs per input record (decode and store run in the
    # decode thread and store tasks; insert and store are awaited, so they include waiting).
    stages = stop.get("stage_seconds") or {}
    if stages:
        print("  stage profile, µs per input record: consume (raw) "
              f"{1e6 / raw:.2f}, " + ", ".join(f"{k} {v * 1e6 / records:.2f}" for k, v in stages.items()))
        out.update({f"us_per_record_{k}": round(v * 1e6 / records, 3) for k, v in stages.items()})
    return out


def message_contents(topic: str, value: bytes) -> tuple[int, dict[str, int], dict[str, int]]:
    """A message's newest record time, the traces it carries (trace id -> spans in it) and
    each one's newest record time in it."""
    times: list[int] = []
    traces: dict[str, int] = {}
    last: dict[str, int] = {}
    if topic == "otlp_spans":
        for rs in ExportTraceServiceRequest.FromString(value).resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    times.append(sp.end_time_unix_nano)
                    tid = sp.trace_id.hex()
                    traces[tid] = traces.get(tid, 0) + 1
                    last[tid] = max(last.get(tid, 0), sp.end_time_unix_nano)
    elif topic == "otlp_logs":
        for rl in ExportLogsServiceRequest.FromString(value).resource_logs:
            for sl in rl.scope_logs:
                for lr in sl.log_records:
                    times.append(lr.time_unix_nano or lr.observed_time_unix_nano)
                    if lr.trace_id:
                        tid = lr.trace_id.hex()
                        traces.setdefault(tid, 0)
                        last[tid] = max(last.get(tid, 0), lr.time_unix_nano or lr.observed_time_unix_nano)
    else:
        for rm in ExportMetricsServiceRequest.FromString(value).resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    times.extend(dp.time_unix_nano for dp in getattr(m, kind).data_points)
    return max(times, default=0), traces, last


@dataclass(slots=True)
class Probe:
    """One sampled trace: when its last record was produced, and when it became queryable."""
    trace_id: str
    spans: int
    last_msg: int  # index of the last message carrying one of its records
    produced: float = 0.0
    raw_at: float = 0.0  # every span queryable (correlated or not)
    correlated_at: float = 0.0  # every span correlated
    first_corr_poll_hit: bool = False
    polls: int = 0
    due_at: float = 0.0  # schedule time (s) when its newest record time plus the inactivity gap is reached
    due: float = 0.0  # the same as a wall time: the watermark cannot pass the gap before then
    slowest: float = 0.0  # its slowest API request (s): the figure's resolution


def plan_live(msgs: list, start_ns: int, seconds: float, samples: int) -> tuple[list, list[Probe]]:
    """Publication schedule (offset s, message) and the traces to watch: spread over the run,
    past a short warm-up, and completed by the watermark well before production stops."""
    timed_msgs, spans_of, last_of, first_seen, last_ns = [], defaultdict(int), {}, {}, defaultdict(int)
    for topic, key, value in msgs:
        newest, traces, last = message_contents(topic, value)
        timed_msgs.append(((newest - start_ns) / NS, (topic, key, value), traces))
        for tid, t in last.items():
            last_ns[tid] = max(last_ns[tid], t)
    timed_msgs.sort(key=lambda x: x[0])
    for i, (at, _, traces) in enumerate(timed_msgs):
        for tid, n in traces.items():
            spans_of[tid] += n
            last_of[tid] = i
            first_seen.setdefault(tid, at)
    lo, hi = 3.0, seconds - INACTIVITY_S - 4.0
    eligible = [t for t in first_seen if spans_of[t] and lo <= timed_msgs[last_of[t]][0] <= hi]
    eligible.sort(key=lambda t: timed_msgs[last_of[t]][0])
    step = max(1, len(eligible) // samples)
    probes = [Probe(t, spans_of[t], last_of[t], due_at=(last_ns[t] - start_ns) / NS + INACTIVITY_S)
              for t in eligible[::step][:samples]]
    return [(at, m) for at, m, _ in timed_msgs], probes


async def produce_live(broker: str, prefix: str, schedule: list, probes: list[Probe]) -> float:
    """Send each message when its time comes; stamp each probe's produce time when its last
    message is handed to the producer. Returns how far production fell behind, at most (s)."""
    by_msg: dict[int, list[Probe]] = defaultdict(list)
    for p in probes:
        by_msg[p.last_msg].append(p)
    prod = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=0, acks=1, max_request_size=8 * 1024 * 1024)
    await prod.start()
    behind = 0.0
    try:
        began = time.time()
        pending = []
        for i, (at, (topic, key, value)) in enumerate(schedule):
            wait = began + at - time.time()
            if wait > 0:
                if pending:
                    await asyncio.gather(*pending)
                    pending.clear()
                await asyncio.sleep(began + at - time.time())
            behind = max(behind, time.time() - (began + at))
            now = time.time()
            pending.append(await prod.send(prefix + topic, value=value, key=key))
            for p in by_msg.get(i, ()):
                p.produced, p.due = now, began + p.due_at
        await asyncio.gather(*pending)
    finally:
        await prod.stop()
    return behind


async def watch(client: httpx.AsyncClient, probe: Probe, poll_s: float) -> None:
    """Poll the trace from its produce time: note when every span is queryable, then when
    every span is correlated. The correlated check starts one poll before the watermark can
    have passed the trace's newest record by the inactivity gap (`due`: the shop has no clock
    skew, so no record that new exists before then; a trace's last record may sit up to a
    slice of the simulator before its message is produced, so `due` comes up to ~1 s before
    produce + gap): earlier checks cannot succeed and only queue on the API's one read lock.
    A hit on that first check is flagged: the figure would then be an upper bound."""
    while not probe.produced:
        await asyncio.sleep(poll_s / 2)
    corr_from = probe.due - poll_s
    first_corr_poll = True
    while True:
        sent = time.time()
        if probe.raw_at and sent < corr_from:
            await asyncio.sleep(corr_from - sent)
            continue
        probe.polls += 1
        resp = await client.get(f"/v1/traces/{probe.trace_id}")
        probe.slowest = max(probe.slowest, time.time() - sent)
        if resp.status_code == 200:
            spans = resp.json()["spans"]
            if len(spans) >= probe.spans and not probe.raw_at:
                probe.raw_at = sent
            if sent >= corr_from:
                if len(spans) >= probe.spans and all(s["correlated"] for s in spans):
                    probe.correlated_at = sent
                    probe.first_corr_poll_hit = first_corr_poll
                    return
                first_corr_poll = False
        await asyncio.sleep(max(0.0, sent + poll_s - time.time()))


async def live_run(broker: str, prefix: str, api: str, schedule: list, probes: list[Probe], poll_s: float,
                   timeout_s: float) -> float:
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        watchers = [asyncio.ensure_future(watch(client, p, poll_s)) for p in probes]
        behind = await produce_live(broker, prefix, schedule, probes)
        _, late = await asyncio.wait(watchers, timeout=timeout_s)
        for w in late:
            w.cancel()
        for w in watchers:
            if w.done() and not w.cancelled() and w.exception():
                raise w.exception()
    return behind


def section_freshness(args: argparse.Namespace, broker: str, work: Path) -> dict:
    rps, seconds, samples = (50, 30, 60) if args.quick else (50, 90, 200)
    poll_s = 0.2
    start_ns = time.time_ns() // NS * NS  # event time starts near now, as live data would
    msgs, counts = shop(rps, seconds, args.seed + 1, start_ns=start_ns)
    schedule, probes = plan_live(msgs, start_ns, seconds, samples)
    prefix, port = "live.", free_port()
    chdb_dir, err_path = work / "live-ch", work / "live-worker.err"
    err = open(err_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--api", "--port", str(port)],
                            env=worker_env(broker, prefix, chdb_dir, 0.1 if args.probes else 0.5),
                            stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not any(e.get("event") == "progress" and len(e.get("by_trace_partitions", ())) == 4
                      for e in worker_events(err_path)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"live worker did not get its partitions: {err_path.read_text()[-3000:]}")
            time.sleep(0.2)
        behind = asyncio.run(live_run(broker, prefix, f"http://127.0.0.1:{port}", schedule, probes, poll_s,
                                      timeout_s=INACTIVITY_S + 30))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()
    done = [p for p in probes if p.correlated_at]
    if args.probes:  # each probe's times, and the worker's progress lines (watermark_ns)
        shutil.copy(err_path, args.probes + ".worker")
        Path(args.probes).write_text(json.dumps([
            {"trace_id": p.trace_id, "produced": p.produced, "due": p.due, "raw_at": p.raw_at,
             "correlated_at": p.correlated_at, "first_poll_hit": p.first_corr_poll_hit, "polls": p.polls,
             "slowest_request_s": p.slowest} for p in probes]))
    fresh = [p.correlated_at - p.produced - INACTIVITY_S for p in done]
    raw = [p.raw_at - p.produced for p in done]
    f50, f99, r50, r99 = (percentile(fresh, 50), percentile(fresh, 99), percentile(raw, 50), percentile(raw, 99))
    hits = sum(p.first_corr_poll_hit for p in done)
    records = counts["spans"] + counts["logs"] + counts["metrics"]
    print(f"freshness: shop at {rps} req/s produced live for {seconds} s ({records / seconds:,.0f} records/s, "
          f"production at most {behind * 1000:.0f} ms behind schedule); {len(done)} sampled traces polled "
          f"every {poll_s} s through the worker's API ({sum(p.polls for p in done)} requests); "
          f"minus trace_inactivity_s = {INACTIVITY_S:g} s")
    print(f"  produce -> correlated, minus the gap   p50 {f50:6.2f} s   p99 {f99:6.2f} s   max {max(fresh):6.2f} s")
    print(f"  produce -> raw spans queryable          p50 {r50:6.2f} s   p99 {r99:6.2f} s   max {max(raw):6.2f} s")
    print(f"  ratio correlated/raw                    p50 {f50 / r50:6.2f}x   p99 {f99 / r99:6.2f}x")
    slow = [p.slowest for p in done]
    print(f"  each trace's slowest API request        p50 {percentile(slow, 50):6.2f} s   max {max(slow):6.2f} s "
          "(a check waits for the one before it: the figures' resolution)")
    if hits:
        print(f"  note: {hits} traces were already correlated at their first check (their figure is an upper bound)")
    return {"freshness_p50_s": round(f50, 3), "freshness_p99_s": round(f99, 3),
            "raw_freshness_p50_s": round(r50, 3), "raw_freshness_p99_s": round(r99, 3),
            "freshness_samples": len(done)}


def section_kafka(args: argparse.Namespace) -> dict:
    """e2e and freshness share one local broker (their topics are apart by prefix)."""
    work = Path(tempfile.mkdtemp(prefix="telecorr-corrbench-"))
    figures: dict = {}
    try:
        with LocalBroker(work) as broker:
            if "e2e" in args.only:
                figures.update(section_e2e(args, broker.address, work))
            if "freshness" in args.only:
                figures.update(section_freshness(args, broker.address, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


SECTIONS = {"engine": section_engine, "accuracy": section_accuracy}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller runs (well under 2 minutes)")
    ap.add_argument("--json", action="store_true", help="print all figures as one JSON object last")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=2_000, help="records per add() call")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per contender")
    ap.add_argument("--e2e-seconds", type=int, default=0, help="e2e backlog length in event time (default 40/200)")
    ap.add_argument("--e2e-rps", type=int, default=0, help="e2e shop request rate (default 100)")
    ap.add_argument("--probes", default="", help="freshness: write each sampled trace's times to this JSON "
                    "file and the worker's stderr (progress every 0.1 s, with its watermark) to FILE.worker")
    ap.add_argument("--only", nargs="+", default=["engine", "accuracy", "e2e", "freshness"],
                    choices=["engine", "accuracy", "e2e", "freshness"], help="run only these sections")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    figures: dict = {}
    for name, section in SECTIONS.items():
        if name in args.only:
            figures.update(section(args))
    if {"e2e", "freshness"} & set(args.only):
        figures.update(section_kafka(args))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
