"""Serving: the background server the worker embeds, and `telecorr api` as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from pipeline.api.server import serve_in_background
from pipeline.config import Settings
from pipeline.store.migrate import migrate
from tests.conftest import REPO, free_port

# Runs the subcommand through its own register(), as cli.py does for COMMAND_MODULES.
RUN_API = """
import argparse, sys
from pipeline.config import common_parser
from pipeline.commands import api
parser = argparse.ArgumentParser()
sub = parser.add_subparsers(dest="command", required=True)
api.register(sub, common_parser())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def test_background_server_serves_and_stops(ch_client):
    migrate(ch_client, Settings())
    handle = serve_in_background(Settings(), ch_client, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{handle.port}"
        assert httpx.get(base + "/healthz").json() == {"status": "ok"}
        assert httpx.get(base + "/v1/traces/" + "ab" * 16).status_code == 404
    finally:
        handle.stop()
    assert not handle.thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/healthz")


def test_concurrent_requests_all_answer(ch_client):
    from concurrent.futures import ThreadPoolExecutor

    from tests.test_api import SEARCH_LOGS, TRACE, TRACE_LOGS, TRACE_METRICS, TRACE_SPANS, _insert

    migrate(ch_client, Settings())
    _insert(ch_client, TRACE_SPANS, TRACE_LOGS + SEARCH_LOGS, TRACE_METRICS)
    handle = serve_in_background(Settings(), ch_client, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{handle.port}"

    def one(i: int) -> tuple[int, int]:
        if i % 2:
            r = httpx.get(f"{base}/v1/traces/{TRACE}", timeout=30)
            return r.status_code, len(r.json()["spans"])
        r = httpx.post(f"{base}/v1/logs/search", json={"query": "level >= warn"}, timeout=30)
        return r.status_code, r.json()["count"]

    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(32)))
    finally:
        handle.stop()
    assert set(answers) == {(200, 3), (200, 5)}


def test_background_server_reports_a_taken_port(ch_client):
    first = serve_in_background(Settings(), ch_client, "127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="could not start"):
            serve_in_background(Settings(), ch_client, "127.0.0.1", first.port)
    finally:
        first.stop()


def _api(*argv: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("TELECORR_API_TOKEN", None)
    return subprocess.Popen([sys.executable, "-c", RUN_API, "api", *argv], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_api_command_migrates_and_serves(tmp_path):
    port = free_port()
    proc = _api("--clickhouse", f"chdb://{tmp_path}/chdb", "--host", "127.0.0.1", "--port", str(port))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "telecorr api did not answer within 60 s"
            time.sleep(0.2)
        # Migrations ran: the tables exist, so an unknown trace is a 404, not a store error.
        r = httpx.get(f"http://127.0.0.1:{port}/v1/traces/" + "ab" * 16)
        assert r.status_code == 404
        r = httpx.post(f"http://127.0.0.1:{port}/v1/logs/search", json={"query": "error"})
        assert r.json()["count"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal so the parent sees the usual status.
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err
    assert f"serving on http://127.0.0.1:{port}" in err


def test_api_command_explains_a_store_held_by_another_process(ch_client, chdb_root):
    proc = _api("--clickhouse", f"chdb://{chdb_root}", "--port", str(free_port()))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "in use by another process" in err and "telecorr worker --api" in err
