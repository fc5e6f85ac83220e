"""What the worker has done so far, and its structured log lines."""

from __future__ import annotations

import sys
import time

import orjson

from pipeline.ingest.stage import INPUT_KINDS
from pipeline.redact import redact


class WorkerState:
    """Counts and clocks for --stop-when-idle, the progress event, metrics and tests."""

    def __init__(self) -> None:
        self.last_activity = time.monotonic()
        self.messages: dict[str, int] = {k: 0 for k in INPUT_KINDS}
        self.records = {"spans": 0, "logs": 0, "metrics": 0}
        self.dead_letters = 0
        self.stopping = False
        self.in_flight = 0  # batches taken but not yet finished (written or failed)
        self.first_batch_ts = 0.0  # wall-clock time of the first and latest consumed batch
        self.last_batch_ts = 0.0
        self.first_batch_cpu = 0.0  # process CPU (every thread, the store's included) at both
        self.last_batch_cpu = 0.0

    def batch_taken(self) -> None:
        """Clock the first consumed batch: benchmarks set the worker's CPU against its wall
        time over the same window, to show whether it waits or computes."""
        if not self.first_batch_ts:
            self.first_batch_ts, self.first_batch_cpu = time.time(), time.process_time()

    def batch_finished(self) -> None:
        self.last_batch_ts, self.last_batch_cpu = time.time(), time.process_time()

    def active(self) -> None:
        """Something real happened (records, not the progress reports that never stop)."""
        self.last_activity = time.monotonic()


def emit(event: str, **fields) -> None:
    """One structured log line on stderr: what tests, `telecorr up` and log shippers read."""
    sys.stderr.write(redact(orjson.dumps({"ts": time.time(), "event": event, **fields}).decode()) + "\n")
    sys.stderr.flush()
