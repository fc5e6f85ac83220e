"""Root-cause ranking on a converted real dataset, through the documented commands, beside baselines.

A dataset directory holds OTLP/JSON export requests (`traces-*.json.gz`, `logs-*`, `metrics-*`,
each signal in time order across its numbered files) and `ground_truth.json` (`faults`, each
with `id`, `type`, `service`, `pod` and its window `start_ns`/`end_ns` or `start`/`end`). This
benchmark starts its own broker on a free port (deploy/kafka/up.sh), publishes the files with
`telecorr replay`, stores them with `telecorr worker --stop-when-idle`, stops the broker, then
asks `telecorr rca --from --to --json` about every fault's window, one process per question as
an SRE would. Three simple baselines rank the same windows from the same store in the same
run: count of ERROR log lines per service, rise of a service's span p95 self time, and the
largest z-score of a pod's resource gauges. A fault is right at top-k when its service is among
the first k distinct services answered; `pod` says how often telecorr's first answer named the
faulty pod as its instance.

    python benchmarks/rca_real.py --data DIR [--quick] [--json] [--store CHDB_DIR]

`--quick`: the first faults in time order (at least one of each type when they come early,
six at most) and only the files up to the last of their windows; under two minutes.
`--store`: rank over a chDB directory an earlier run (or a manual replay) filled, skipping the
replay: minutes per iteration while working on the ranking. A directory that does not exist yet
is replayed into and kept.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from pipeline.api.time_params import parse_time_ns  # noqa: E402
from pipeline.rca.evaluate import rank_of  # noqa: E402

BASELINE_NS = 30 * 60 * 10**9
QUICK_FAULTS = 6

# Baselines: each returns (service, score) rows, best first, for one window.
ERROR_LOGS = """
SELECT service, count() AS score FROM logs
WHERE time_ns >= {wf:Int64} AND time_ns < {wt:Int64} AND severity_number >= 17 AND service != ''
GROUP BY service ORDER BY score DESC, service
"""
SELF_TIME_P95 = """
SELECT service, quantileIf(0.95)(self_time_ns, start_ns >= {wf:Int64})
              / greatest(quantileIf(0.95)(self_time_ns, start_ns < {wf:Int64}), 1) AS score
FROM correlated_spans FINAL
WHERE orig_start_ns >= {bf:Int64} - 60000000000 AND orig_start_ns < {wt:Int64} + 60000000000
  AND start_ns >= {bf:Int64} AND start_ns < {wt:Int64} AND peer = ''
GROUP BY service HAVING countIf(start_ns >= {wf:Int64}) > 0 AND countIf(start_ns < {wf:Int64}) > 0
ORDER BY score DESC, service
"""
POD_METRIC_Z = """
SELECT service, max(abs(mean_w - mean_b) / (sd_b + 1e-9)) AS score FROM (
    SELECT service, if(instance != '', instance, resource['k8s.pod.name']) AS pod, name,
           avgIf(value, time_ns >= {wf:Int64}) AS mean_w, avgIf(value, time_ns < {wf:Int64}) AS mean_b,
           stddevPopIf(value, time_ns < {wf:Int64}) AS sd_b
    FROM metrics FINAL
    WHERE time_ns >= {bf:Int64} AND time_ns < {wt:Int64} AND type = 'gauge' AND isFinite(value)
          AND length(attributes) = 0
    GROUP BY service, pod, name
    HAVING pod != '' AND countIf(time_ns >= {wf:Int64}) > 0 AND countIf(time_ns < {wf:Int64}) > 1
)
WHERE service != '' GROUP BY service ORDER BY score DESC, service
"""
BASELINES = {"error_log_lines": ERROR_LOGS, "span_p95_self_time": SELF_TIME_P95, "pod_metric_z": POD_METRIC_Z}


def window_of(f: dict) -> tuple[int, int]:
    lo = f.get("start_ns") or parse_time_ns(f["start"])
    hi = f.get("end_ns") or parse_time_ns(f["end"])
    return int(lo), int(hi)


def quick_faults(faults: list[dict]) -> list[dict]:
    """The first faults in time order: enough to meet every type that comes early, at most six."""
    ordered = sorted(faults, key=lambda f: window_of(f)[0])
    return ordered[:QUICK_FAULTS]


def _first_time_ns(path: Path) -> int | None:
    """Earliest record time in one OTLP/JSON export request (spans, logs or metric points)."""
    with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as fh:
        doc = json.load(fh)
    best = None
    for key, scope_key, items in (("resourceSpans", "scopeSpans", "spans"), ("resourceLogs", "scopeLogs", "logRecords"),
                                  ("resourceMetrics", "scopeMetrics", "metrics")):
        for res in doc.get(key, ()):
            for scope in res.get(scope_key, ()):
                for item in scope.get(items, ()):
                    if items == "metrics":
                        pts = [p for v in item.values() if isinstance(v, dict) for p in v.get("dataPoints", ())]
                        times = [int(p.get("timeUnixNano", 0)) for p in pts]
                    else:
                        times = [int(item.get("startTimeUnixNano") or item.get("timeUnixNano") or 0)]
                    for t in times:
                        if t and (best is None or t < best):
                            best = t
    return best


def files_until(files: list[Path], until_ns: int) -> list[Path]:
    """The time-ordered files of one signal up to the first that starts after `until_ns`."""
    out = []
    for p in files:
        t = _first_time_ns(p)
        if t is not None and t > until_ns:
            break
        out.append(p)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _telecorr(args: list[str], env: dict, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def replay_into(data: Path, store: Path, work: Path, until_ns: int | None) -> dict:
    """Broker up, `telecorr replay` every signal's files, `telecorr worker --stop-when-idle`, broker down."""
    port = _free_port()
    env = dict(os.environ, KAFKA_PORT=str(port), TELECORR_STATE_DIR=str(work), PYTHON=sys.executable,
               PYTHONPATH=str(REPO))
    env.pop("TELECORR_CLICKHOUSE", None)
    common = ["--broker", f"127.0.0.1:{port}", "--clickhouse", f"chdb://{store}"]
    subprocess.run(["bash", str(REPO / "deploy/kafka/up.sh")], env=env, check=True, capture_output=True)
    try:
        counts = {}
        for signal in ("metrics", "logs", "traces"):
            files = sorted(data.glob(f"{signal}-*.json*"))
            if until_ns is not None:
                files = files_until(files, until_ns)
            counts[signal] = len(files)
            if files:
                r = _telecorr([*common, "replay", *map(str, files), "--format", "otlp-json"], env, 1800)
                if r.returncode:
                    raise SystemExit(f"telecorr replay failed: {r.stderr[-2000:]}")
        t0 = time.perf_counter()
        r = _telecorr([*common, "worker", "--stop-when-idle", "10"], env, 7200)
        if r.returncode:
            raise SystemExit(f"telecorr worker failed: {r.stderr[-3000:]}")
        counts["worker_s"] = round(time.perf_counter() - t0, 1)
        return counts
    finally:
        subprocess.run(["bash", str(REPO / "deploy/kafka/down.sh")], env=env, check=False, capture_output=True)


def ask(store: Path, lo: int, hi: int) -> dict:
    """`telecorr rca --from --to --json` over the store, as its own process."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = _telecorr(["--clickhouse", f"chdb://{store}", "rca", "--from", str(lo), "--to", str(hi), "--limit", "10",
                   "--json"], env, 600)
    if r.returncode:
        raise SystemExit(f"telecorr rca failed: {r.stderr[-2000:]}")
    return orjson.loads(r.stdout)


def distinct_services(candidates: list[dict]) -> list[str]:
    out: list[str] = []
    for c in sorted(candidates, key=lambda c: c.get("rank", 0)):
        if c["service"] not in out:
            out.append(c["service"])
    return out


def figures(ranks: list[int | None]) -> dict:
    n = len(ranks)
    if not n:
        return {"n": 0, "top1": 0.0, "top3": 0.0, "mrr": 0.0}
    return {"n": n, "top1": round(sum(r == 1 for r in ranks) / n, 4),
            "top3": round(sum(1 for r in ranks if r and r <= 3) / n, 4),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 4)}


def baseline_ranks(store: Path, faults: list[dict]) -> dict[str, list[int | None]]:
    import clickhouse_connect

    from pipeline.rca.source import as_rows
    from pipeline.store.queries.window import Period

    src = as_rows(clickhouse_connect.get_client(dsn=f"chdb://{store}"))
    out: dict[str, list[int | None]] = defaultdict(list)
    for f in faults:
        lo, hi = window_of(f)
        params = Period(lo, hi, lo - BASELINE_NS, lo).params()
        for name, sql in BASELINES.items():
            out[name].append(rank_of([r["service"] for r in src.rows(sql, params)], f["service"]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="dataset directory (OTLP/JSON files, ground_truth.json)")
    ap.add_argument("--quick", action="store_true", help="the first few faults and only the files they need")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    ap.add_argument("--store", type=Path, default=None, help="rank over this filled chDB directory (no replay); if it does not exist yet, "
                    "replay into it and keep it")
    args = ap.parse_args()

    faults = json.loads((args.data / "ground_truth.json").read_text())["faults"]
    if args.quick:
        faults = quick_faults(faults)
    work = Path(tempfile.mkdtemp(prefix="telecorr-rca-real-"))
    t_all = time.perf_counter()
    try:
        store = args.store
        replay = {}
        if store is None or not store.exists():
            store = store or work / "chdb"
            until = max(window_of(f)[1] for f in faults) if args.quick else None
            replay = replay_into(args.data, store, work, until)
            print(f"replayed {replay} into {store}")
        ranks, pod_ok, per_type, kinds = [], 0, defaultdict(list), {}
        t_rank = time.perf_counter()
        for f in faults:
            lo, hi = window_of(f)
            answer = ask(store, lo, hi)
            services = distinct_services(answer["candidates"])
            r = rank_of(services, f["service"])
            top = answer["candidates"][0] if answer["candidates"] else {}
            pod_ok += r == 1 and bool(f.get("pod")) and top.get("instance") == f.get("pod")
            kinds[f["id"]] = top.get("kind")
            ranks.append(r)
            per_type[f["type"]].append(r)
            print(f"{f['id']:8s} {f['type']:16s} {f['service']:24s} rank={r} top={services[:3]} "
                  f"instance={top.get('instance') or '-'} kind={top.get('kind')}")
        rank_s = time.perf_counter() - t_rank
        base = baseline_ranks(store, faults)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    types = sorted(per_type)
    idx = defaultdict(list)
    for i, f in enumerate(faults):
        idx[f["type"]].append(i)
    summary = {"faults": len(faults), **figures(ranks), "pod": round(pod_ok / len(faults), 4),
               "per_type": {t: figures(per_type[t]) for t in types},
               "baselines": {b: {**figures(rs), "per_type": {t: figures([rs[i] for i in idx[t]]) for t in types}}
                             for b, rs in base.items()},
               "rank_s_per_fault": round(rank_s / len(faults), 2), "total_s": round(time.perf_counter() - t_all, 1)}
    names = list(BASELINES)
    print(f"\n{len(faults)} faults; telecorr rca {summary['rank_s_per_fault']} s per question (process start included)")
    print(f"{'fault type':16s} {'telecorr':>12s} " + " ".join(f"{n:>20s}" for n in names) + "   (top1/top3)")
    for t in types + ["all"]:
        tel = summary if t == "all" else summary["per_type"][t]
        cells = [summary["baselines"][n] if t == "all" else summary["baselines"][n]["per_type"][t] for n in names]
        print(f"{t:16s} {tel['top1']:.2f}/{tel['top3']:.2f}    " +
              " ".join(f"{c['top1']:>15.2f}/{c['top3']:.2f}" for c in cells))
    best = max(summary["baselines"][n]["top1"] for n in names)
    print(f"telecorr top-1 {summary['top1']:.3f} vs best baseline {best:.3f}; mrr {summary['mrr']:.3f}; "
          f"faulty pod named by the first answer: {summary['pod']:.2f}")
    if args.json:
        print(orjson.dumps(summary).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
