"""`telecorr worker --api`: the worker serves the HTTP API from its own process (embedded mode)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from pipeline.config import Settings
from pipeline.kafka.io import publish
from tests import otlp_samples as S
from tests.conftest import free_port
from tests.workerproc import worker_env

pytestmark = pytest.mark.integration


def test_worker_serves_traces_it_stored(broker, topic_prefix, tmp_path):
    spans_pb, _, want = S.traces(77, 6)
    logs_pb, _, _ = S.logs(77, 3)
    publish(Settings(broker=broker, topic_prefix=topic_prefix),
            [("otlp_spans", None, spans_pb), ("otlp_logs", None, logs_pb)])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--api", "--port", str(port)],
                            env=worker_env(broker, topic_prefix, tmp_path / "ch"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    trace_id = want[0]["trace_id"]
    body = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/traces/{trace_id}", timeout=5)
                if r.status_code == 200 and len(r.json()["spans"]) == len(want):
                    body = r.json()
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        # The worker's figures are refreshed by its progress timer, which may not have run
        # yet when the trace is already queryable.
        metrics, status = _worker_figures(port)
        while time.monotonic() < deadline and 'telecorr_worker_records_total{signal="spans"}' not in metrics:
            time.sleep(0.5)
            metrics, status = _worker_figures(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert body is not None, err[-3000:]
    assert {s["span_id"] for s in body["spans"]} == {w["span_id"] for w in want}
    assert sum(len(s["logs"]) for s in body["spans"]) == 3
    assert proc.returncode == 0, err[-3000:]
    # The worker's own metrics ride on the API's /metrics, and `telecorr status` reads them.
    assert metrics['telecorr_worker_records_total{signal="spans"}'] == len(want)
    assert metrics['telecorr_worker_rows_written_total{table="spans"}'] == len(want)
    assert metrics["telecorr_worker_dead_letters_total"] == 0
    assert metrics["process_resident_memory_bytes"] > 0
    assert any(k.startswith("telecorr_worker_batch_seconds_count") for k in metrics)
    assert any(k.startswith("telecorr_api_requests_total") for k in metrics)
    assert f"in:     {len(want) + 3:,} records" in status and "dead letters: 0" in status, status


def _worker_figures(port: int) -> tuple[dict[str, float], str]:
    """The /metrics samples by name{labels}, and `telecorr status` output, once the worker's
    progress timer has counted what it stored."""
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        if samples.get('telecorr_worker_rows_written_total{table="spans"}') or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    status = subprocess.run([sys.executable, "-m", "pipeline.cli", "status", "--url",
                             f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True, check=True).stdout
    return samples, status
