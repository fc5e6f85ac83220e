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
