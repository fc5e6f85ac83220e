"""Where ingest time goes, stage by stage, in one process: CPU µs per record for decode, the
log stage (parse, tag, template), re-key for the join, the store's insert columns and the
insert itself, beside the bare parse of the same messages (upb `FromString` / `orjson.loads`,
no Python per record) measured in the same run. Also prints a digest of everything the
stages produce (stored columns per table, the by-trace and metrics records read back, the
error reasons), so two checkouts can be shown to produce the same rows:

    PYTHONPATH=<checkout> python benchmarks/ingest_stages.py [--data DIR] [--quick] [--json]

Input: `benchmarks/ingest.py`'s OTLP protobuf mix by default; `--sim` the simulator's shop
preset (protobuf); `--data DIR` every file of a dataset directory read as `telecorr replay`
reads it (its `*.gz`, `*.jsonl` and `*.pb` files, so a dataset's own `manifest.json` or
`ground_truth.json` is not fed in; e.g. /work/shared/datasets/nezha-ob). Messages are decoded per topic in batches of
`--batch` messages, as the worker consumes them. CPU time (`time.thread_time`) is used so a
busy shared machine inflates the figures less than wall time would; the insert is wall time
(ClickHouse works in its own threads). The collector is tuned as the worker tunes it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from pipeline.config import Settings  # noqa: E402
from pipeline.ingest.decode import decode_batch  # noqa: E402
from pipeline.ingest.stage import Ingestor  # noqa: E402
from pipeline.shuffle.route import by_trace_messages, metric_messages, read_by_trace, read_metrics  # noqa: E402
from pipeline.store.writer import TABLES  # noqa: E402
from pipeline.worker.runtime import tune_gc  # noqa: E402

KAFKA_NS = 1_760_000_000_000_000_000
STAGES = ("decode", "logs", "rekey", "rows", "insert")


def messages(args: argparse.Namespace) -> list[tuple[str, bytes]]:
    """(logical topic, value) in publish order."""
    if args.data:
        from pipeline.commands.replay import replay_messages
        files = sorted(str(p) for p in Path(args.data).iterdir() if p.suffix in (".gz", ".jsonl", ".pb"))
        return [(t, v) for t, _, v in replay_messages(files, "auto", None, {})]
    if args.sim:
        from pipeline.sim.simulator import SimConfig, Simulation
        topic = {"traces": "otlp_spans", "logs": "otlp_logs", "metrics": "otlp_metrics"}
        sim = Simulation(SimConfig(preset="shop", duration_ns=(20 if args.quick else 120) * 10**9, rps=30, seed=1,
                                   encoding="otlp-proto"))
        return [(topic[s], v) for s, v in sim.messages() if s in topic]
    from ingest import make_messages
    msgs, _ = make_messages(60_000 if args.quick else 300_000, 200)
    return [(t, v) for t, _, v in msgs]


def bare_parse(msgs: list[tuple[str, bytes]]) -> float:
    """CPU seconds for the C parsers alone over every message."""
    from pipeline.ingest.decode.otlp_pb import REQUESTS
    from pipeline.ingest.framing import gunzip
    t0 = time.thread_time()
    for topic, value in msgs:
        value = gunzip(value, 1 << 30)
        if topic in REQUESTS and value[:1] not in (b"{", b"["):
            REQUESTS[topic].FromString(value)
        else:
            for line in value.splitlines() if topic.startswith("telemetry.") else [value]:
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    pass
    return time.thread_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller input (under 2 minutes)")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object of the figures")
    ap.add_argument("--data", help="a dataset directory, read as `telecorr replay` reads it")
    ap.add_argument("--sim", action="store_true", help="the simulator's protobuf output instead of the mix")
    ap.add_argument("--batch", type=int, default=100, help="messages per decoded batch")
    ap.add_argument("--no-insert", action="store_true", help="skip the chDB insert stage")
    args = ap.parse_args()

    msgs = messages(args)
    settings = Settings()
    ingestor = Ingestor(settings)
    by_topic: dict[str, list[bytes]] = {}
    for topic, value in msgs:
        by_topic.setdefault(topic, []).append(value)
    tune_gc()  # the worker's collector settings, or collections over the inputs would dominate
    cpu = dict.fromkeys(STAGES, 0.0)
    by_kind: dict[str, list] = {}  # topic -> [records, cpu per stage...]: µs per metric point on its own
    digest = hashlib.sha256()
    counts = {"spans": 0, "logs": 0, "metrics": 0, "errors": 0}
    insert = None
    if not args.no_insert:
        from pipeline.store.client import connect
        from pipeline.store.migrate import migrate
        from pipeline.store.writer import client_insert
        client = connect(f"chdb://{tempfile.mkdtemp(prefix='telecorr-stages-')}/ch")
        migrate(client, settings)
        insert = client_insert(client)
    for topic in sorted(by_topic):
        values = by_topic[topic]
        kind = {"telemetry.events": "events", "telemetry.raw_logs": "raw_logs"}.get(topic, topic)
        for lo in range(0, len(values), args.batch):
            chunk = values[lo:lo + args.batch]
            t0 = time.thread_time()
            res = decode_batch(kind, chunk, [KAFKA_NS + lo + i for i in range(len(chunk))], ingestor.limits)
            t1 = time.thread_time()
            ingestor._finish(res)  # the log stage exactly as Ingestor.process runs it
            t2 = time.thread_time()
            forwarded = by_trace_messages(res.spans, res.logs, 8)
            points = metric_messages(res.metrics) if res.metrics else []
            t3 = time.thread_time()
            tables = [(t, TABLES[t][1](recs)) for t, recs in (("spans", res.spans), ("logs", res.logs),
                                                               ("metrics", res.metrics)) if len(recs)]
            t4 = time.thread_time()
            w0 = time.perf_counter()
            if insert is not None:
                for table, cols in tables:
                    insert(table, cols, TABLES[table][0])
            cpu["insert"] += time.perf_counter() - w0
            mine = by_kind.setdefault(topic, [0] + [0.0] * 4)
            mine[0] += len(res.spans) + len(res.logs) + len(res.metrics)
            for n, (stage, secs) in enumerate(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)), 1):
                cpu[stage] += secs
                mine[n] += secs
            counts["spans"] += len(res.spans)
            counts["logs"] += len(res.logs)
            counts["metrics"] += len(res.metrics)
            counts["errors"] += len(res.errors)
            # The digest (not timed): what the store gets, what the join gets, what the DLQ gets.
            for table, cols in tables:
                digest.update(table.encode() + orjson.dumps(cols))
            # Per partition, not per message: how records are split into messages follows
            # their encoded size, which is not part of what the join receives.
            joined: dict[int, tuple[list, list]] = {}
            for p, value in forwarded:
                spans, logs, _ = read_by_trace(value)
                joined.setdefault(p, ([], []))[0].extend(spans)
                joined[p][1].extend(logs)
            for p in sorted(joined):
                digest.update(b"%d" % p + orjson.dumps(joined[p]))
            # The batch's points read back, whatever messages they were cut into (as above).
            if points:
                digest.update(orjson.dumps([p for value in points for p in read_metrics(value)]))
            digest.update(orjson.dumps([[e.index, e.reason] for e in res.errors]))
    records = counts["spans"] + counts["logs"] + counts["metrics"]
    parse_s = bare_parse(msgs)
    per = {stage: cpu[stage] / records * 1e6 for stage in STAGES}
    python_us = sum(per[s] for s in STAGES if s != "insert")
    print(f"{len(msgs)} messages, {counts['spans']} spans, {counts['logs']} logs, {counts['metrics']} points, "
          f"{counts['errors']} errors")
    for stage in STAGES:
        print(f"  {stage:7s} {per[stage]:7.2f} µs/record{'  (wall)' if stage == 'insert' else ''}")
    print(f"  total in Python (decode..rows): {python_us:.2f} µs/record; "
          f"baseline bare C parse of the same messages: {parse_s / records * 1e6:.2f} µs/record")
    for topic, (n, *secs) in sorted(by_kind.items()):
        if n:
            print(f"  {topic}: " + ", ".join(f"{s} {t / n * 1e6:.2f}" for s, t in zip(STAGES, secs))
                  + f" µs/record over {n} records")
    print(f"digest {digest.hexdigest()}")
    if args.json:
        print(orjson.dumps({"records": records, **counts, **{f"{s}_us": round(per[s], 3) for s in STAGES},
                            "python_us": round(python_us, 3), "bare_parse_us": round(parse_s / records * 1e6, 3),
                            "per_topic_us": {t: {s: round(x / n * 1e6, 3) for s, x in zip(STAGES, secs)}
                                             for t, (n, *secs) in by_kind.items() if n},
                            "digest": digest.hexdigest()}).decode())


if __name__ == "__main__":
    main()
