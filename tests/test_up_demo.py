"""The README's first command, `telecorr up --demo`, run exactly: it brings up its own broker,
worker and API, and ends within 3 minutes naming the injected fault's service as the top
root cause; with --keep-running it serves the report until Ctrl-C, then stops what it started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import free_port

README_BUDGET_S = 180


def _env(tmp_path) -> dict:
    # Own broker and API ports, so the test never borrows a broker someone else runs on 9092.
    return dict(os.environ, TELECORR_BROKER=f"127.0.0.1:{free_port()}", TELECORR_API_PORT=str(free_port()),
                TELECORR_STATE_DIR=str(tmp_path / "state"))


def _port_open(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


@pytest.fixture
def telecorr() -> str:
    path = shutil.which("telecorr")
    assert path, "the telecorr console script is not installed (pip install -e .)"
    return path


def test_readme_demo_names_the_injected_fault(tmp_path, telecorr):
    env = _env(tmp_path)
    t0 = time.monotonic()
    out = subprocess.run([telecorr, "up", "--demo"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=README_BUDGET_S)
    took = time.monotonic() - t0
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert " 1. payment  [error]" in text, text[-3000:]
    assert "the top candidate matches it" in text
    assert "symptom: POST /checkout on frontend" in text
    assert "report page" in text and "/report/window?from=" in text
    assert took < README_BUDGET_S
    assert not _port_open(env["TELECORR_BROKER"]), "the broker it started is still running"


def test_keep_running_serves_the_report_until_ctrl_c(tmp_path, telecorr):
    env = _env(tmp_path)
    proc = subprocess.Popen([telecorr, "up", "--demo", "--keep-running", "--duration", "90"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url, seen = None, []
    try:
        deadline = time.monotonic() + README_BUDGET_S
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("telecorr: serving the API"):
                break
            if line.startswith("telecorr: report page: "):
                url = line.split(": ", 2)[2].strip()
        assert url, "".join(seen[-40:])
        with urllib.request.urlopen(url, timeout=30) as resp:
            page = resp.read().decode()
        assert resp.status == 200 and "payment" in page
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=120)[0]
        assert proc.returncode == 130, rest
        assert "stopped the local broker" in rest
        assert not _port_open(env["TELECORR_BROKER"])
        assert not _port_open(f"127.0.0.1:{env['TELECORR_API_PORT']}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
