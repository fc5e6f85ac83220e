"""Run `telecorr worker` and `telecorr sql` as subprocesses, the way operators do.

The worker owns its chDB directory (one process per directory), so tests read results back
through `telecorr sql` once it has exited.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import orjson


def worker_env(broker: str, prefix: str, chdb_dir: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, TELECORR_BROKER=broker, TELECORR_TOPIC_PREFIX=prefix,
                TELECORR_CLICKHOUSE=f"chdb://{chdb_dir}", TELECORR_GROUP_ID="g-" + uuid.uuid4().hex[:8],
                TELECORR_SESSION_TIMEOUT_S="6", TELECORR_SINK_FLUSH_S="0.3",
                TELECORR_PROGRESS_S="0.5", **extra)


def start_worker(env: dict[str, str], idle_s: float = 3.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--stop-when-idle", str(idle_s)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_worker(env: dict[str, str], idle_s: float = 3.0, timeout: float = 180) -> tuple[int, str]:
    proc = start_worker(env, idle_s)
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def events(stderr: str) -> list[dict]:
    """The worker's structured log lines."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                pass
    return out


def sql(chdb_dir: Path, query: str) -> list[dict]:
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "--clickhouse", f"chdb://{chdb_dir}",
                          "sql", query, "--format", "json"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return [orjson.loads(line) for line in res.stdout.splitlines() if line.strip()]


class StderrFollower:
    """Collect a running worker's stderr lines on a thread, to watch its progress events."""

    def __init__(self, proc: subprocess.Popen) -> None:
        import threading

        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            self.lines.append(line)

    def events(self) -> list[dict]:
        return events("".join(self.lines))

    def join(self, timeout: float = 10) -> None:
        """Wait until the exited worker's last lines are collected."""
        self._thread.join(timeout)


def progress_where(follower: StderrFollower, ready) -> dict | None:
    """The first progress event so far that satisfies `ready`, or None."""
    for e in follower.events():
        if e.get("event") == "progress" and ready(e):
            return e
    return None


def wait_for_progress(follower: StderrFollower, proc: subprocess.Popen, ready, timeout: float = 120) -> dict:
    """The first progress event that satisfies `ready`; fails if the worker exits or time runs out."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = progress_where(follower, ready)
        if found is not None:
            return found
        assert proc.poll() is None, ("the worker exited early", "".join(follower.lines)[-3000:])
        time.sleep(0.2)
    raise AssertionError(("no progress event matched in time", "".join(follower.lines)[-3000:]))


def newest_by_id(rows: list[dict]) -> dict[str, dict]:
    """What a ReplacingMergeTree keeps of these rows: per id, the row with the highest version."""
    out: dict[str, dict] = {}
    for r in rows:
        have = out.get(r["id"])
        if have is None or r["version"] > have["version"]:
            out[r["id"]] = r
    return out


def row_differences(got: list[dict], want: list[dict], loose: tuple[str, ...] = ("metrics",)) -> tuple[int, int]:
    """Compare rows matched by id: (rows differing in a strict column, rows differing only in
    a `loose` one). Metric readings are loose: they depend on which metric points a worker had
    read when the trace completed (exporters push every few seconds), not on the trace."""
    want_by_id = {r["id"]: r for r in want}
    strict = loose_only = 0
    for r in got:
        w = want_by_id.get(r["id"])
        if w is None or any(r[k] != w[k] for k in r if k not in loose):
            strict += 1
        elif r != w:
            loose_only += 1
    return strict, loose_only


SKEWS = ["host=node-1,offset=+4s", "host=node-2,offset=-3s,drift=10ms/min"]
RAW = ("spans", "logs", "metrics")
CORRELATED = ("SELECT id, version, start_ns, end_ns, clock_offset_ns, is_error, log_count, "
              "arraySort(log_ids) AS logs, metrics FROM correlated_spans FINAL ORDER BY id")


def shop_traffic(truth_dir: Path, seed: int = 31) -> tuple[list, dict[str, int]]:
    """A minute of the shop with a fault and skewed clocks (~14k spans, ~7k logs), in small
    messages so a kill lands between many commits; also the simulator's record counts."""
    from pipeline.sim import SimConfig, Simulation, kafka_messages, parse_fault, parse_skew

    sim = Simulation(SimConfig(preset="shop", duration_ns=60 * 10**9, rps=20, seed=seed, encoding="otlp-proto",
                               batch=64, skews=[parse_skew(s) for s in SKEWS],
                               faults=[parse_fault("type=error,target=payment,start=+20s,duration=20s")]))
    msgs = list(kafka_messages(sim, truth_dir))
    return msgs, sim.ground_truth()["counts"]


def clean_shop_run(broker: str, root: Path) -> tuple[list, dict[str, int], list[dict]]:
    """The reference for the crash and scale-out tests: `shop_traffic` through one worker that
    is never disturbed. Returns the messages, the simulator's counts and the correlated rows."""
    from pipeline.config import Settings
    from pipeline.kafka.io import publish

    msgs, truth = shop_traffic(root / "truth")
    prefix = "clean" + uuid.uuid4().hex[:8] + "."
    publish(Settings(broker=broker, topic_prefix=prefix), msgs)
    rc, err = run_worker(worker_env(broker, prefix, root / "ch"), idle_s=4)
    assert rc == 0, err[-3000:]
    rows = sql(root / "ch", CORRELATED)
    assert len(rows) == truth["spans"] > 10_000  # one correlated row per span
    return msgs, truth, rows
