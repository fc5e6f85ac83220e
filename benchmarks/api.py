"""API read latency over a large embedded store: trace lookup and window ranking.

The store: the simulated shop (with one injected fault) run through the library pipeline in
process (`benchmarks.harness.offline.OfflinePipeline`: decode → parse/tag → correlate → chDB) gives a
seed slice; ClickHouse then copies that slice forward in time, copy k shifted by k slice
lengths with every trace and log id rewritten as a hash of (id, k), into the raw tables
(`spans`, `logs`, `metrics`; `trace_index` and `trace_docs` fill through their views) and
`correlated_spans`, until at least the target number of spans is stored. The result is kept in the work
directory and reused by later runs with the same recipe.

Figures, each beside a baseline from the same run:
  trace lookup   GET /v1/traces/{id} through the FastAPI app (in-process client) for trace ids
                 sampled from the stored ones plus a few unknown ids (the 404 path); baseline:
                 the naive read of the same trace — `correlated_spans FINAL` by trace_id alone,
                 i.e. the bloom-filter index without trace_index's time bounds.
  window ranking `pipeline.rca.rank_window` (default 30-minute baseline period) over windows
                 half of which are 3 minutes around an error burst (the injected fault, which
                 recurs once per copy) and half random 5-minute ones; baseline: one GROUP BY
                 service pass over the same window and the 30 minutes before it (count, errors,
                 p99 self-time), the least any ranking must read.

    python benchmarks/api.py [--quick] [--json] [--data-dir DIR] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import clickhouse_connect  # noqa: E402

from pipeline.config import Settings  # noqa: E402
from pipeline.store.migrate import migrate, migration_files  # noqa: E402

NS = 1_000_000_000
MINUTE = 60 * NS
SEED_DB, FAULTY_DB, DB = "seed", "seed_fault", "bench"
# The slice the pipeline produces, by mode: (simulated seconds, requests/s).
SEED = {"full": (180, 60), "quick": (60, 40)}
TARGET_SPANS = {"full": 10_000_000, "quick": 1_000_000}
# The seed is simulated twice, the second time with this fault in it; one copy in FAULT_EVERY is
# taken from the faulty run, so faults are rare enough for a 30-minute baseline before each to
# be clean, and ranked windows around them have something to find.
FAULT = "type=error,target=cart,start=+20s,duration=30s"
FAULT_EVERY = 20
COPIES_PER_INSERT = 8


def _new_id(col: str) -> str:
    """A copy's id: 32 hex digits hashed from the original and the copy number; '' stays ''."""
    return f"if({col} = '', '', lower(hex(MD5(concat({col}, '/', toString(k))))))"


def _new_ids(col: str) -> str:
    return f"arrayMap(x -> if(x = '', '', lower(hex(MD5(concat(x, '/', toString(k)))))), {col})"


def _copy_sql(table: str, replace: dict[str, str], k0: int, k1: int, shift_ns: int, faulty: bool) -> str:
    """INSERT copies k0..k1-1 of a seed table (the faulty run's for every FAULT_EVERY-th copy, the
    clean run's for the rest): ids rewritten, times moved by k * shift."""
    cols = ", ".join(f"{expr} AS {name}" for name, expr in replace.items())
    pick = f"k % {FAULT_EVERY} {'=' if faulty else '!='} {FAULT_EVERY // 2}"
    return (f"INSERT INTO {DB}.{table} SELECT * EXCEPT (k) REPLACE ({cols}) FROM "
            f"(SELECT *, arrayJoin(arrayFilter(k -> {pick}, range({k0}, {k1}))) AS k "
            f"FROM {FAULTY_DB if faulty else SEED_DB}.{table}) "
            f"SETTINGS max_insert_threads = 1").replace("SHIFT", f"(k * {shift_ns})")


REWRITES = {
    "spans": {"id": "concat(" + _new_id("trace_id") + ", span_id)", "trace_id": _new_id("trace_id"),
              "start_ns": "start_ns + SHIFT", "end_ns": "end_ns + SHIFT"},
    "logs": {"id": _new_id("id"), "trace_id": _new_id("trace_id"), "time_ns": "time_ns + SHIFT",
             "observed_ns": "observed_ns + SHIFT"},
    "metrics": {"id": _new_id("id"), "time_ns": "time_ns + SHIFT", "start_time_ns": "start_time_ns + SHIFT",
                "exemplar_times": "arrayMap(x -> x + SHIFT, exemplar_times)",
                "exemplar_trace_ids": _new_ids("exemplar_trace_ids")},
    "correlated_spans": {"id": "concat(" + _new_id("trace_id") + ", span_id)", "trace_id": _new_id("trace_id"),
                         "start_ns": "start_ns + SHIFT", "end_ns": "end_ns + SHIFT",
                         "orig_start_ns": "orig_start_ns + SHIFT", "orig_end_ns": "orig_end_ns + SHIFT",
                         "trace_complete_ns": "trace_complete_ns + SHIFT", "log_ids": _new_ids("log_ids")},
}


def recipe(mode: str) -> str:
    """What the stored data was made from; a different recipe means rebuild."""
    seconds, rps = SEED[mode]
    schemas = ",".join(p.name for _, p in migration_files())
    return (f"shop seed=5 {seconds}s@{rps}rps, 1 in {FAULT_EVERY} copies from seed=6 with fault[{FAULT}] "
            f"target={TARGET_SPANS[mode]} schemas[{schemas}]")


def build(admin, root: Path, mode: str, say) -> dict:
    """Make the store (see module docs); returns what was made."""
    from benchmarks.harness.offline import OfflinePipeline
    from pipeline.sim import SimConfig, Simulation, parse_fault

    settings = Settings()
    for db in (SEED_DB, FAULTY_DB, DB):
        admin.command(f"DROP DATABASE IF EXISTS {db} SYNC")
        admin.command(f"CREATE DATABASE {db}")
    seconds, rps = SEED[mode]
    t = time.perf_counter()
    start_ns, fewest = None, None
    for db, sim_seed, faults in ((SEED_DB, 5, []), (FAULTY_DB, 6, [parse_fault(FAULT)])):
        client = clickhouse_connect.get_client(dsn=f"chdb://{root}", database=db)
        migrate(client, settings)
        sim = Simulation(SimConfig(preset="shop", duration_ns=seconds * NS, rps=rps, seed=sim_seed,
                                   start_ns=start_ns, faults=faults))
        start_ns = sim.start_ns
        pipe = OfflinePipeline(client, settings)
        pipe.feed_simulation(sim)
        counts = pipe.close()
        fewest = min(fewest or counts["spans"], counts["spans"])
        say(f"seed {db}: {seconds}s of simulated shop at {rps} req/s{' with ' + FAULT if faults else ''} through "
            f"the in-process pipeline: {counts['spans']} spans, {counts['logs']} logs, {counts['metrics']} "
            f"metric points, {counts['correlated_spans']} correlated rows (amended versions included)")
    migrate(clickhouse_connect.get_client(dsn=f"chdb://{root}", database=DB), settings)
    seed_s = time.perf_counter() - t
    times = " UNION ALL ".join(f"SELECT start_ns AS t FROM {db}.spans UNION ALL SELECT time_ns FROM {db}.logs "
                               f"UNION ALL SELECT time_ns FROM {db}.metrics" for db in (SEED_DB, FAULTY_DB))
    lo, hi = admin.query(f"SELECT min(t), max(t) FROM ({times})").result_rows[0]
    shift = ((hi - lo) // MINUTE + 1) * MINUTE
    copies = -(-TARGET_SPANS[mode] // fewest)
    t = time.perf_counter()
    for k0 in range(0, copies, COPIES_PER_INSERT):
        k1 = min(k0 + COPIES_PER_INSERT, copies)
        for table, replace in REWRITES.items():
            for faulty in (False, True):
                admin.command(_copy_sql(table, replace, k0, k1, shift, faulty))
        say(f"  copies {k1}/{copies} ({time.perf_counter() - t:.0f}s)")
    admin.command(f"INSERT INTO {DB}.clock_offsets SELECT * FROM {SEED_DB}.clock_offsets")
    for db in (SEED_DB, FAULTY_DB):
        admin.command(f"DROP DATABASE {db} SYNC")
    admin.command(f"CREATE TABLE {DB}.bench_meta (recipe String, made String) ENGINE = TinyLog")
    made = (f"{copies} copies of the seeds, each shifted {shift // MINUTE} min, ids rewritten "
            f"(seed {seed_s:.0f}s, copying {time.perf_counter() - t:.0f}s)")
    admin.insert(f"{DB}.bench_meta", [[recipe(mode), made]], column_names=["recipe", "made"])
    return {"made": made}


def open_store(root: Path, mode: str, rebuild: bool, say):
    """A client on the benchmark database, building it first unless a matching one is stored."""
    admin = clickhouse_connect.get_client(dsn=f"chdb://{root}")
    stored = None
    if not rebuild:
        try:
            stored = admin.query(f"SELECT recipe, made FROM {DB}.bench_meta").result_rows[0]
        except Exception:  # noqa: BLE001 - no database or no meta table: build
            stored = None
    if stored is not None and stored[0] == recipe(mode):
        say(f"reusing the store in {root}: {stored[1]}")
    else:
        say(f"building the store in {root} ({recipe(mode)})")
        build(admin, root, mode, say)
    return admin, clickhouse_connect.get_client(dsn=f"chdb://{root}", database=DB)


_NAIVE_TRACE_SQL = """
SELECT * FROM correlated_spans FINAL WHERE trace_id = {tid:String}
"""
_WINDOW_SCAN_SQL = """
SELECT service, time_ns >= {from_ns:Int64} AS in_window, count() AS spans, countIf(is_error) AS errors,
       quantile(0.99)(self_time_ns) AS p99_self_ns
FROM (SELECT service, start_ns AS time_ns, is_error, self_time_ns FROM correlated_spans
      WHERE start_ns BETWEEN {base_ns:Int64} AND {to_ns:Int64})
GROUP BY service, in_window
"""
WINDOW_NS = 5 * MINUTE
BASELINE_NS = 30 * MINUTE


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1))]


def sample_trace_ids(client, n: int, seed: int) -> list[str]:
    """n stored trace ids, drawn by a seeded hash order over every trace in trace_index."""
    rows = client.query("SELECT trace_id FROM trace_index GROUP BY trace_id "
                        "ORDER BY cityHash64(trace_id, {seed:UInt64}) LIMIT {n:UInt64}",
                        parameters={"seed": seed, "n": n}).result_rows
    return [r[0] for r in rows]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def measure_traces(client, reader, api, ids: list[str], unknown: list[str], say) -> dict:
    """GET each id (stored ones, then unknown ones mixed in) beside the naive read of it."""
    lookups = [(tid, True) for tid in ids] + [(tid, False) for tid in unknown]
    random.Random(1).shuffle(lookups)
    api_ms, naive_ms, spans_seen = [], [], 0
    for tid, stored in lookups:
        def get() -> None:
            nonlocal spans_seen
            r = api.get(f"/v1/traces/{tid}")
            if r.status_code != (200 if stored else 404):
                raise SystemExit(f"GET /v1/traces/{tid}: {r.status_code} {r.text[:200]}")
            if stored:
                spans_seen += len(r.json()["spans"])
        api_ms.append(timed(get))
        naive_ms.append(timed(lambda: reader.rows(_NAIVE_TRACE_SQL, {"tid": tid})))
    say(f"trace lookups: {len(ids)} stored ids ({spans_seen / max(1, len(ids)):.1f} spans each on average) "
        f"and {len(unknown)} unknown ones (404)")
    return {"api": api_ms, "naive": naive_ms}


_ERROR_BURSTS_SQL = """
SELECT intDiv(start_ns, 60000000000) * 60000000000 AS minute, countIf(own_error) AS errors
FROM correlated_spans WHERE start_ns >= {first:Int64} AND start_ns < {last:Int64}
GROUP BY minute ORDER BY errors DESC, minute LIMIT {n:UInt64}
"""


def pick_windows(client, lo: int, hi: int, n: int) -> list[tuple[int, int]]:
    """Half the windows: 3 minutes around the minutes with the most own errors (the injected
    fault, once per copy: what an on-call engineer asks about); half: random 5-minute windows.
    Each has 30 minutes stored before it for its baseline."""
    first, last = lo + BASELINE_NS, hi - WINDOW_NS
    if last <= first:
        return []
    hot = client.query(_ERROR_BURSTS_SQL, parameters={"first": first, "last": last, "n": n // 2}).result_rows
    windows = [(m - MINUTE, m + 2 * MINUTE) for m, errors in hot if errors]
    rng = random.Random(2)
    while len(windows) < n:
        start = rng.randrange(first, last) // NS * NS
        windows.append((start, start + WINDOW_NS))
    return windows


def measure_windows(client, reader, lo: int, hi: int, n: int, say) -> dict | None:
    """rank_window over the picked windows, beside one GROUP BY pass over each window and its
    baseline."""
    try:
        from pipeline.rca import rank_window
    except ImportError as exc:
        say(f"window ranking not measured: {exc}")
        return None
    windows = pick_windows(client, lo, hi, n)
    if not windows:
        say("window ranking not measured: less than 35 minutes stored")
        return None
    rank_ms, scan_ms, found = [], [], 0
    for start, end in windows:
        out: dict = {}
        rank_ms.append(timed(lambda: out.update(rank_window(reader, start, end))))
        found += bool(out.get("candidates"))
        params = {"from_ns": start, "to_ns": end, "base_ns": start - BASELINE_NS}
        scan_ms.append(timed(lambda: reader.rows(_WINDOW_SCAN_SQL, params)))
    say(f"window rankings: {len(windows)} windows (half 3 min around error bursts, half random 5 min; "
        f"30-minute baselines), {found} with candidates")
    return {"rank": rank_ms, "scan": scan_ms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1M spans and fewer lookups (< 2 min)")
    ap.add_argument("--json", action="store_true", help="last stdout line: the figures as one JSON object")
    ap.add_argument("--data-dir", type=Path, default=None, help="where the chDB store lives (kept between runs)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the store even if a matching one is kept")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    root = args.data_dir or Path(tempfile.gettempdir()) / "telecorr-bench" / f"api-{mode}"
    root.mkdir(parents=True, exist_ok=True)

    def say(msg: str) -> None:
        print(msg, flush=True)

    from fastapi.testclient import TestClient

    from pipeline.api.app import create_app
    from pipeline.api.reads import Reader, ReadLimits

    admin, client = open_store(root, mode, args.rebuild, say)
    spans, lo, hi = client.query("SELECT count(), min(start_ns), max(end_ns) FROM spans").result_rows[0]
    parts = client.query("SELECT table, count() FROM system.parts WHERE database = currentDatabase() AND active "
                         "AND table IN ('spans', 'logs', 'correlated_spans', 'trace_index') GROUP BY table "
                         "ORDER BY table").result_rows
    say(f"{'quick run: ' if args.quick else ''}{spans:,} spans stored over {(hi - lo) / 3600 / NS:.1f} h; "
        f"active parts: {', '.join(f'{t} {n}' for t, n in parts)}")
    n_traces, n_unknown, n_windows = (150, 8, 8) if args.quick else (500, 25, 30)
    reader = Reader(client, ReadLimits())
    ids = sample_trace_ids(client, n_traces, seed=7)
    unknown_rng = random.Random(3)
    unknown = [f"{unknown_rng.getrandbits(128):032x}" for _ in range(n_unknown)]
    with TestClient(create_app(Settings(), client)) as api:
        api.get(f"/v1/traces/{ids[0]}")  # first request pays for app start-up, not a lookup
        traces = measure_traces(client, reader, api, ids, unknown, say)
    windows = measure_windows(client, reader, lo, hi, n_windows, say)

    fig = {"spans": spans,
           "trace_p50_ms": round(statistics.median(traces["api"]), 2),
           "trace_p99_ms": round(percentile(traces["api"], 99), 2),
           "naive_trace_p50_ms": round(statistics.median(traces["naive"]), 2),
           "naive_trace_p99_ms": round(percentile(traces["naive"], 99), 2)}
    fig["trace_p50_vs_naive"] = round(fig["naive_trace_p50_ms"] / fig["trace_p50_ms"], 2)
    say(f"trace lookup  p50 {fig['trace_p50_ms']:8.1f} ms  p99 {fig['trace_p99_ms']:8.1f} ms   (goal p99 <= 50 ms)")
    say(f"  baseline: correlated_spans FINAL by trace_id alone  p50 {fig['naive_trace_p50_ms']:8.1f} ms  "
        f"p99 {fig['naive_trace_p99_ms']:8.1f} ms   (naive/API p50 = {fig['trace_p50_vs_naive']}x)")
    if windows is not None:
        fig.update({"window_p50_ms": round(statistics.median(windows["rank"]), 2),
                    "window_p99_ms": round(percentile(windows["rank"], 99), 2),
                    "scan_window_p50_ms": round(statistics.median(windows["scan"]), 2),
                    "scan_window_p99_ms": round(percentile(windows["scan"], 99), 2)})
        fig["window_p50_vs_scan"] = round(fig["window_p50_ms"] / fig["scan_window_p50_ms"], 2)
        say(f"window rank   p50 {fig['window_p50_ms']:8.1f} ms  p99 {fig['window_p99_ms']:8.1f} ms   (goal p99 <= 1000 ms)")
        say(f"  baseline: one GROUP BY service pass over window + baseline  p50 {fig['scan_window_p50_ms']:8.1f} ms  "
            f"p99 {fig['scan_window_p99_ms']:8.1f} ms   (rank/scan p50 = {fig['window_p50_vs_scan']}x)")
    else:
        fig.update({"window_p50_ms": None, "window_p99_ms": None})
    if args.json:
        print(json.dumps(fig))


if __name__ == "__main__":
    main()
