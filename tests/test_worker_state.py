"""The worker's batch window clocks (wall and process CPU), which benchmarks/ingest.py sets
against each other to tell a worker that computes from one that waits."""

from __future__ import annotations

import time

from pipeline.worker.state import WorkerState


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_first_batch_is_clocked_once_and_the_last_each_time() -> None:
    state = WorkerState()
    state.batch_taken()
    first_ts, first_cpu = state.first_batch_ts, state.first_batch_cpu
    assert first_ts > 0 and first_cpu > 0
    _spin(0.02)
    state.batch_taken()  # a later batch does not move the window's start
    assert (state.first_batch_ts, state.first_batch_cpu) == (first_ts, first_cpu)
    state.batch_finished()
    assert state.last_batch_ts >= first_ts
    assert state.last_batch_cpu - state.first_batch_cpu >= 0.02
