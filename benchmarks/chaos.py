"""Chaos: simulated traffic with about 1 % poison of every kind (benchmarks/harness/poison.py), a
worker SIGKILLed mid-stream and restarted, and a store outage of at least 30 s, beside a clean
run of the same good traffic (no poison, no kill, no outage) measured in the same run.

Starts its own local broker (port --port, default 39092). The outage is simulated: the
restarted worker runs with TELECORR_TEST_STORE_OUTAGE_S, which makes its store refuse every
insert with a connection error for that long from its first write (agents/commands.py), as
an unreachable ClickHouse would; the writer sees exactly the transient failure it retries.

Figures: records (good spans + logs sent), lost (good records not stored), duplicates (rows
minus distinct ids after FINAL, raw and correlated tables), poison_kinds and those survived
(each where docs/poison.md says it goes), dlq_bytes / poison_bytes, restarts (deliberate
kills), records_per_s (first worker start to the last batch, outage included) beside the
clean run's baseline_records_per_s, and traces_correlated of traces.

    python benchmarks/chaos.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.config import Settings  # noqa: E402
from pipeline.kafka.io import publish, read_topic  # noqa: E402
from benchmarks.harness.poison import S, Traffic, kinds, span_id, trace_id  # noqa: E402


def _env(broker: str, prefix: str, chdb: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, TELECORR_BROKER=broker, TELECORR_TOPIC_PREFIX=prefix, TELECORR_CLICKHOUSE=f"chdb://{chdb}",
                TELECORR_GROUP_ID="chaos-" + uuid.uuid4().hex[:6], TELECORR_SESSION_TIMEOUT_S="6",
                TELECORR_PROGRESS_S="0.5", TELECORR_SINK_FLUSH_S="0.3", PYTHONPATH=str(REPO), **extra)


def _worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--stop-when-idle", "3"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _events(lines: list[str], name: str) -> list[dict]:
    return [e for e in (orjson.loads(ln) for ln in lines if ln.startswith('{"ts"')) if e["event"] == name]


def _finish(proc: subprocess.Popen, timeout: float = 600) -> dict:
    _, err = proc.communicate(timeout=timeout)
    stop = _events(err.splitlines(), "idle-stop")
    if proc.returncode != 0 or not stop:
        print(err[-3000:], file=sys.stderr)
        raise SystemExit("worker failed")
    stop[-1]["progress"] = _events(err.splitlines(), "progress")
    return stop[-1]


def _sql(chdb: Path, query: str) -> list[dict]:
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "--clickhouse", f"chdb://{chdb}", "sql", query,
                          "--format", "json"], capture_output=True, text=True, timeout=300, env=_env("", "", chdb))
    if res.returncode:
        raise SystemExit(f"sql failed: {res.stderr}")
    return [orjson.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]


def _kill_mid_stream(proc: subprocess.Popen, lines: list[str], total_spans: int) -> int:
    """SIGKILL once the worker has stored some spans but not all; returns spans stored then."""
    import threading

    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        progress = _events(list(lines), "progress")
        stored = progress[-1]["stored"].get("spans", 0) if progress else 0
        if total_spans // 5 <= stored < total_spans:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return stored
        time.sleep(0.1)
    raise SystemExit("the worker never got mid-stream")


def _check(chdb: Path, tr: Traffic, stored_checks: list[str] = ()) -> dict:
    """Lost, duplicated and correlated good records in the store, and each stored check's
    result, in one query (every `telecorr sql` is a process start)."""
    mine = f"startsWith(trace_id, '{trace_id(0)[:8]}')"  # every trace Traffic makes
    dup = " + ".join(f"(SELECT count() - uniqExact(id) FROM {t} FINAL)"
                     for t in ("spans", "logs", "metrics", "correlated_spans"))
    checks = "".join(f", ({c}) AS check{i}" for i, c in enumerate(stored_checks))
    row = _sql(chdb, f"""SELECT
        (SELECT groupArray(id) FROM spans FINAL WHERE {mine}) AS span_ids,
        (SELECT groupArray((trace_id, c)) FROM (SELECT trace_id, count() c FROM logs FINAL
            WHERE {mine} GROUP BY trace_id)) AS log_counts,
        (SELECT groupArray(trace_id) FROM (SELECT trace_id, count() c, sum(log_count) lc
            FROM correlated_spans FINAL WHERE {mine} GROUP BY trace_id) WHERE c = 3 AND lc = 3) AS correlated,
        {dup} AS dup{checks}""")[0]
    want = {trace_id(n) + span_id(n, i) for n in tr.traces for i in range(3)}
    logs = dict(row["log_counts"])
    lost = len(want - set(row["span_ids"])) + sum(max(0, 3 - logs.get(trace_id(n), 0)) for n in tr.traces)
    return {"lost": lost, "duplicates": row["dup"],
            "traces_correlated": len({trace_id(n) for n in tr.traces} & set(row["correlated"])),
            "checks": [row[f"check{i}"] == 1 for i in range(len(stored_checks))]}


def _mixed(tr: Traffic, n_traces: int, now: int, seed: int) -> tuple[list[tuple[str, bytes]], list]:
    """Good traces with every poison kind placed at a random point among them."""
    all_kinds = kinds(tr, now, first=n_traces + 10)
    msgs = [m for n in range(n_traces) for m in tr.trace(n)]
    rnd = random.Random(seed)
    for kind in all_kinds:
        at = rnd.randrange(len(msgs) + 1)
        msgs[at:at] = kind.messages
    return msgs, all_kinds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller run (under 2 minutes)")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object of the figures")
    ap.add_argument("--port", type=int, default=39092, help="port of the broker this run starts")
    ap.add_argument("--outage-s", type=float, default=None, help="store outage (default 30 s, 45 s without --quick)")
    args = ap.parse_args()
    n_traces = 1500 if args.quick else 2000  # one message of each kind: 1.3 % and 1.0 % poison
    outage = args.outage_s or (30.0 if args.quick else 45.0)

    work = Path(tempfile.mkdtemp(prefix="telecorr-chaos-"))
    env = dict(os.environ, KAFKA_PORT=str(args.port), TELECORR_STATE_DIR=str(work), PYTHON=sys.executable)
    subprocess.run(["bash", str(REPO / "deploy/kafka/up.sh")], env=env, check=True, capture_output=True)
    broker = f"127.0.0.1:{args.port}"
    try:
        now = time.time_ns()
        # Baseline: the same good traffic, nothing going wrong.
        clean = Traffic(now - 240 * S, S // 10)
        good = [m for n in range(n_traces) for m in clean.trace(n)]
        publish(Settings(broker=broker, topic_prefix="clean."), [(t, None, v) for t, v in good])
        started = time.time()
        stop = _finish(_worker(_env(broker, "clean.", work / "clean")))
        base_rate = 6 * n_traces / (stop["last_batch_ts"] - started)
        base = _check(work / "clean", clean)

        tr = Traffic(now - 240 * S, S // 10)
        msgs, all_kinds = _mixed(tr, n_traces, now, seed=7)
        poison = [v for k in all_kinds for _, v in k.messages]
        publish(Settings(broker=broker, topic_prefix="chaos."), [(t, None, v) for t, v in msgs])
        chdb = work / "chaos"
        cenv = _env(broker, "chaos.", chdb, TELECORR_CONSUME_BATCH="20")
        started = time.time()
        lines: list[str] = []
        killed_at = _kill_mid_stream(_worker(cenv), lines, 3 * len(tr.traces))
        stop = _finish(_worker({**cenv, "TELECORR_TEST_STORE_OUTAGE_S": str(outage)}))
        rate = 3 * 2 * len(tr.traces) / (stop["last_batch_ts"] - started)
        figures = _check(chdb, tr, [k.stored_check or "1" for k in all_kinds])
        letters = asyncio.run(read_topic(broker, "chaos.telemetry.dlq", idle_s=2.0))
        values = {rec.value for rec in letters}
        survived = sum(1 for k, ok in zip(all_kinds, figures["checks"])
                       if ok and (k.outcome != "dlq" or k.messages[0][1] in values))
        retries = max((p.get("store_failures", 0) for p in stop["progress"]), default=0)
    finally:
        subprocess.run(["bash", str(REPO / "deploy/kafka/down.sh")], env=env, check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    out = {"records": 6 * len(tr.traces), "lost": figures["lost"], "duplicates": figures["duplicates"],
           "poison_kinds": len(all_kinds), "poison_kinds_survived": survived,
           "dlq_bytes": sum(len(r.value or b"") for r in letters), "poison_bytes": sum(map(len, poison)),
           "poison_messages": len(poison), "messages": len(msgs), "restarts": 1, "outage_s": outage,
           "store_retries": retries, "spans_stored_at_kill": killed_at,
           "records_per_s": round(rate), "baseline_records_per_s": round(base_rate),
           "traces": len(tr.traces), "traces_correlated": figures["traces_correlated"],
           "baseline_lost": base["lost"], "baseline_traces_correlated": base["traces_correlated"]}
    print(f"traffic: {out['records']} good records in {out['messages']} messages, "
          f"{out['poison_messages']} poison ({100 * out['poison_messages'] / out['messages']:.1f} %) "
          f"of {out['poison_kinds']} kinds")
    print(f"SIGKILL at {killed_at} spans stored, restart with a {outage:.0f} s store outage ({retries} retries)")
    print(f"lost {out['lost']}, duplicates {out['duplicates']}, kinds survived {survived}/{len(all_kinds)}, "
          f"traces correlated {out['traces_correlated']}/{out['traces']}")
    print(f"dlq {out['dlq_bytes']:,} bytes for {out['poison_bytes']:,} poison bytes "
          f"({out['dlq_bytes'] / out['poison_bytes']:.2f}x, goal <= 2)")
    print(f"chaos run:  {rate:10,.0f} records/s (outage and restart included)")
    print(f"clean run:  {base_rate:10,.0f} records/s (baseline: same good traffic, nothing wrong)")
    if args.json:
        print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
