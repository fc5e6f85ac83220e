"""Store insert speed: the writer's insert call (`client_insert`) beside the insert path it
replaced, into the same chDB store in the same run.

Builds realistic pre-built rows for the four large tables (spans, logs and metrics as the
ingest benchmark's OTLP mix decodes them, correlated_spans one per span) and inserts them,
`--batch` rows per insert as the writer flushes, into a freshly migrated store: the real
tables with their materialized views, background merges running, as the worker pays them.
Each round inserts new rows through both paths, alternating which goes first:
  baseline: the previous insert path (JSONCompactColumns straight into spans/logs/dlq,
    clickhouse-connect Native for the rest);
  telecorr: `pipeline.store.writer.client_insert` as it is now.
Only the insert calls are timed; wall clock (rows/s) and process CPU (µs per row, which
includes chDB's own threads and so its background merges) are both reported, since the 2
shared cores make wall clock noisy. Every row is checked to be stored.

`--profile` adds where an insert's CPU goes, per table, merges stopped: serialising the
columns in Python (orjson), parsing them into a Null table shaped like the real one
(LowCardinality columns) and like its twin (plain String), the Native path into that Null
table (clickhouse-connect's serialiser included), a MergeTree copy with no views, and the
real table with its views, each the old way (JSON straight in; Native) and through the twin.

    python benchmarks/store.py [--quick] [--json] [--batch N] [--profile]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import Settings  # noqa: E402
from pipeline.model import CorrelatedSpan, LogRecord, MetricPoint, Span  # noqa: E402
from pipeline.store.client import connect  # noqa: E402
from pipeline.store.migrate import migrate  # noqa: E402
from pipeline.store.tables import input_table  # noqa: E402
from pipeline.store.writer import INSERT_SETTINGS, TABLES, client_insert  # noqa: E402

SERVICES = ["frontend", "cart", "checkout", "payment", "catalog", "shipping"]
T0 = 1_760_000_000_000_000_000
BENCH_TABLES = ("spans", "logs", "metrics", "correlated_spans")


def _where(svc: str, i: int) -> dict:
    return {"service": svc, "instance": f"{svc}-{i % 3}", "host": f"node-{i % 5}",
            "resource": {"service.name": svc, "service.instance.id": f"{svc}-{i % 3}", "host.name": f"node-{i % 5}"}}


def make_records(table: str, n: int, seed: int) -> list:
    """`n` records of `table` with fresh ids, shaped like benchmarks/ingest.py's decoded mix."""
    rnd = random.Random(f"{table}-{seed}")
    out: list = []
    for i in range(n):
        svc, t = SERVICES[i % 6], T0 + seed * 10**11 + i * 10**5
        if table == "spans":
            out.append(Span(trace_id=rnd.randbytes(16).hex(), span_id=rnd.randbytes(8).hex(),
                            parent_span_id=rnd.randbytes(8).hex(), name=f"GET /api/{svc}/{i % 7}", start_ns=t,
                            end_ns=t + rnd.randint(10**5, 10**8), kind=2, **_where(svc, i),
                            attributes={"http.method": "GET", "http.status_code": "200", "http.route": f"/api/{svc}"}))
        elif table == "logs":
            lat, user = rnd.randint(1, 900), f"u{rnd.randint(1, 10**6)}"
            msg = f"handled request {i}"
            out.append(LogRecord(time_ns=t, observed_ns=t + 5, severity_number=9, severity_text="INFO",
                                 body=orjson.dumps({"level": "info", "msg": msg, "route": f"/api/{svc}",
                                                    "latency_ms": lat, "user": user}).decode(),
                                 trace_id=rnd.randbytes(16).hex(), span_id=rnd.randbytes(8).hex(), **_where(svc, i),
                                 attributes={"level": "info", "msg": msg, "route": f"/api/{svc}",
                                             "latency_ms": str(lat), "user": user},
                                 format="json", rules=[] if i % 10 else ["http-slow"], id=rnd.randbytes(16).hex(),
                                 template_id=f"{i % 40:016x}", template="handled request <*>"))
        elif table == "metrics":
            out.append(MetricPoint(name="process.cpu.utilization", type="gauge", time_ns=t, value=rnd.random(),
                                   unit="1", **_where(svc, i), id=rnd.randbytes(16).hex()))
        else:
            d = rnd.randint(10**5, 10**8)
            out.append(CorrelatedSpan(
                trace_id=rnd.randbytes(16).hex(), span_id=rnd.randbytes(8).hex(), parent_span_id=rnd.randbytes(8).hex(),
                name=f"GET /api/{svc}/{i % 7}", service=svc, instance=f"{svc}-{i % 3}", host=f"node-{i % 5}", kind=2,
                start_ns=t + 7, end_ns=t + d + 7, orig_start_ns=t, orig_end_ns=t + d, clock_offset_ns=7, duration_ns=d,
                self_time_ns=d // 2, log_count=2, log_severity_counts={"info": 2},
                log_ids=[rnd.randbytes(16).hex(), rnd.randbytes(16).hex()],
                metrics={"process.cpu.utilization": rnd.random()}, metric_z={"process.cpu.utilization": rnd.gauss(0, 1)},
                rule_ids=[] if i % 10 else ["http-slow"], version=1, trace_complete_ns=t + 10**9, peer="cart",
                service_version="1.4.2"))
    return out


def old_insert(client) -> Callable[[str, list[list], list[str]], None]:
    """The insert path before schemas/008: JSON straight into the table, Native where floats are."""
    def insert(table: str, columns: list[list], names: list[str]) -> None:
        if table in ("spans", "logs", "dlq"):
            try:
                client.raw_insert(table, names, orjson.dumps(columns), settings=INSERT_SETTINGS, fmt="JSONCompactColumns")
                return
            except Exception:  # noqa: BLE001 - as the old path did: Native decides
                pass
        client.insert(table, columns, column_names=names, column_oriented=True, settings=INSERT_SETTINGS)
    return insert


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def compare(client, batch: int, rounds: int) -> dict:
    """Per table and in all: wall rows/s and CPU µs/row of both paths, same rows shape, same run."""
    paths = {"baseline": old_insert(client), "telecorr": client_insert(client)}
    spent = {(p, t): [0.0, 0.0] for p in paths for t in BENCH_TABLES}
    for r in range(rounds):
        order = list(paths) if r % 2 == 0 else list(paths)[::-1]
        for table in BENCH_TABLES:
            names, to_columns = TABLES[table]
            for k, path in enumerate(order):
                cols = to_columns(make_records(table, batch, seed=2 * r + k))
                w, c = _timed(lambda: paths[path](table, cols, list(names)))
                spent[path, table][0] += w
                spent[path, table][1] += c
    rows = batch * rounds
    for table in BENCH_TABLES:
        stored = client.query(f"SELECT count() FROM {table}").result_rows[0][0]
        if stored != 2 * rows:
            raise SystemExit(f"{table}: stored {stored} of {2 * rows} rows")
    out: dict = {}
    for path in paths:
        for table in BENCH_TABLES:
            w, c = spent[path, table]
            out[f"{path}_{table}_rows_per_s"] = round(rows / w)
            out[f"{path}_{table}_cpu_us_per_row"] = round(c * 1e6 / rows, 2)
        w = sum(spent[path, t][0] for t in BENCH_TABLES)
        c = sum(spent[path, t][1] for t in BENCH_TABLES)
        out[f"{path}_rows_per_s"] = round(len(BENCH_TABLES) * rows / w)
        out[f"{path}_cpu_us_per_row"] = round(c * 1e6 / (len(BENCH_TABLES) * rows), 2)
    return out


def profile(client, batch: int, reps: int) -> dict:
    """CPU µs per row of each stage of one insert, medians of `reps`, merges stopped."""
    client.command("SYSTEM STOP MERGES")
    out: dict = {}
    for table in BENCH_TABLES:
        names, to_columns = TABLES[table]
        twin = input_table(table)
        client.command(f"CREATE TABLE prof_null_lc AS {table} ENGINE = Null")
        client.command(f"CREATE TABLE prof_null_plain AS {twin} ENGINE = Null")
        client.command(f"CREATE TABLE prof_copy AS {table}")
        if twin != table:
            client.command(f"CREATE TABLE prof_copy_input AS {twin}")
            client.command("CREATE MATERIALIZED VIEW prof_copy_mv TO prof_copy AS SELECT * FROM prof_copy_input")
        stages: dict[str, list[float]] = {}
        for rep in range(reps):
            cols = to_columns(make_records(table, batch, seed=1000 + rep))
            body = orjson.dumps(cols)

            def json_into(target: str) -> Callable[[], object]:
                return lambda: client.raw_insert(target, list(names), body, settings=INSERT_SETTINGS,
                                                 fmt="JSONCompactColumns")
            steps = {"python_serialise": lambda: orjson.dumps(cols),
                     "parse_lowcardinality": json_into("prof_null_lc"),
                     "parse_plain": json_into("prof_null_plain"),
                     "native_null_incl_python": lambda: client.insert("prof_null_lc", cols, column_names=list(names),
                                                                      column_oriented=True, settings=INSERT_SETTINGS),
                     "copy_no_views_old": json_into("prof_copy"),
                     "real_with_views_old": json_into(table),
                     "real_with_views_native": lambda: client.insert(table, cols, column_names=list(names),
                                                                     column_oriented=True, settings=INSERT_SETTINGS)}
            if twin != table:
                steps["copy_no_views_twin"] = json_into("prof_copy_input")
                steps["real_with_views_twin"] = json_into(twin)
            for name, fn in steps.items():
                stages.setdefault(name, []).append(_timed(fn)[1] * 1e6 / batch)
        for name, values in stages.items():
            out[f"{table}_{name}_cpu_us_per_row"] = round(statistics.median(values), 2)
        for t in ("prof_copy_mv", "prof_copy_input", "prof_copy", "prof_null_plain", "prof_null_lc"):
            client.command(f"DROP TABLE IF EXISTS {t}")
    client.command("SYSTEM START MERGES")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller run (under 2 minutes)")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object of the figures")
    ap.add_argument("--batch", type=int, default=Settings().sink_batch_rows, help="rows per insert")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--profile", action="store_true", help="also time each stage of an insert")
    args = ap.parse_args()
    rounds = args.rounds or (4 if args.quick else 10)  # even: each path goes first equally often

    work = Path(tempfile.mkdtemp(prefix="telecorr-store-bench-"))
    try:
        client = connect(f"chdb://{work / 'ch'}")
        migrate(client, Settings())
        figures = {"batch_rows": args.batch, "rounds": rounds, **compare(client, args.batch, rounds)}
        if args.profile:
            figures.update(profile(client, args.batch, 3 if args.quick else 7))
        client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.batch:,} rows per insert, {rounds} rounds, real tables with their views, merges running")
    print(f"{'table':18s} {'baseline rows/s':>16s} {'telecorr rows/s':>16s} {'baseline cpu':>13s} {'telecorr cpu':>13s}")
    for table in (*BENCH_TABLES, "all"):
        key = "" if table == "all" else f"_{table}"
        b, t = figures[f"baseline{key}_rows_per_s"], figures[f"telecorr{key}_rows_per_s"]
        bc, tc = figures[f"baseline{key}_cpu_us_per_row"], figures[f"telecorr{key}_cpu_us_per_row"]
        print(f"{table:18s} {b:16,} {t:16,} {bc:10.2f} µs {tc:10.2f} µs")
    figures["speedup_rows_per_s"] = round(figures["telecorr_rows_per_s"] / figures["baseline_rows_per_s"], 3)
    figures["cpu_ratio"] = round(figures["telecorr_cpu_us_per_row"] / figures["baseline_cpu_us_per_row"], 3)
    print(f"telecorr/baseline: {figures['speedup_rows_per_s']:.2f}x rows/s, {figures['cpu_ratio']:.2f}x CPU per row")
    if args.profile:
        print("profile, CPU µs per row (merges stopped):")
        for k, v in figures.items():
            if k.endswith("_cpu_us_per_row") and not k.startswith(("baseline", "telecorr")):
                print(f"  {k.removesuffix('_cpu_us_per_row'):45s} {v:6.2f}")
    if args.json:
        print(orjson.dumps(figures).decode())


if __name__ == "__main__":
    main()
