"""`GET /v1/root-cause` with a real client over chDB-backed simulated faults, and the
`telecorr rca` / `telecorr evaluate` commands in their own processes."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import orjson
import pytest
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.config import Settings

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture
def api(rca_runs):
    client, truth = rca_runs["error"]
    app = create_app(SimpleNamespace(**Settings().as_dict()), client)
    return TestClient(app), client, truth


def test_window_answer_has_the_contract_shape(api):
    tc, _, truth = api
    f = truth["faults"][0]
    r = tc.get("/v1/root-cause", params={"from": f["start"], "to": str(f["end_ns"]), "limit": 3})
    assert r.status_code == 200
    body = r.json()
    assert 1 <= len(body["candidates"]) <= 3
    first = body["candidates"][0]
    assert set(first) >= {"rank", "service", "instance", "operation", "kind", "score", "evidence"}
    assert first["service"] == "cart" and first["rank"] == 1
    for e in first["evidence"]:
        assert e["signal"] in ("span", "log", "metric") and e["summary"] and isinstance(e["ref"], dict)
    assert body["baseline"]["to_ns"] == f["start_ns"] and body["baseline"]["from_ns"] < f["start_ns"]


def test_trace_answer_and_unknown_trace(api):
    tc, client, truth = api
    tid = client.query("SELECT trace_id FROM correlated_spans WHERE own_error AND service = 'cart' AND peer = '' "
                       "ORDER BY trace_id LIMIT 1").result_rows[0][0]
    r = tc.get("/v1/root-cause", params={"trace_id": tid})
    assert r.status_code == 200 and r.json()["candidates"][0]["service"] == "cart"
    r = tc.get("/v1/root-cause", params={"trace_id": "0" * 31 + "1"})
    assert r.status_code == 404 and "not stored" in r.json()["error"]


@pytest.mark.parametrize("params, needle", [
    ({}, "trace_id"),
    ({"from": "2025-01-01T00:00:00Z"}, "from and to"),
    ({"from": "2025-01-01T00:01:00Z", "to": "2025-01-01T00:00:00Z"}, "after"),
    ({"from": "yesterday", "to": "2025-01-01T00:00:00Z"}, "from"),
    ({"trace_id": "xyz"}, "hex"),
    ({"trace_id": "a" * 32, "from": "2025-01-01T00:00:00Z", "to": "2025-01-01T00:01:00Z"}, "either"),
    ({"from": "2025-01-01T00:00:00Z", "to": "2025-01-09T00:00:00Z"}, "longer"),
    ({"from": "2025-01-01T00:00:00Z", "to": "2025-01-01T00:01:00Z", "limit": 0}, "limit"),
])
def test_bad_input_is_a_4xx_naming_the_problem(api, params, needle):
    tc, _, _ = api
    r = tc.get("/v1/root-cause", params=params)
    assert 400 <= r.status_code < 500
    assert needle in r.json()["error"].lower()


def test_cli_rca_and_evaluate(tmp_path):
    """The commands open their own store: a separate process loads a run into its own chDB."""
    store = tmp_path / "chdb"
    loader = (
        "import sys, orjson, clickhouse_connect\n"
        "from pipeline.config import Settings\n"
        "from pipeline.store.migrate import migrate\n"
        "from benchmarks.harness.offline import OfflinePipeline\n"
        "from pipeline.sim.faults import parse_fault\n"
        "from pipeline.sim.simulator import SimConfig, Simulation\n"
        "c = clickhouse_connect.get_client(dsn='chdb://' + sys.argv[1])\n"
        "migrate(c, Settings())\n"
        "sim = Simulation(SimConfig(preset='shop', duration_ns=100 * 10**9, seed=3,\n"
        "    faults=[parse_fault('type=latency,target=catalog,start=+70s,duration=30s')]))\n"
        "p = OfflinePipeline(c); p.feed_simulation(sim); p.close()\n"
        "open(sys.argv[2], 'wb').write(orjson.dumps(sim.ground_truth()))\n"
    )
    truth_file = tmp_path / "ground_truth.json"
    subprocess.run([sys.executable, "-c", loader, str(store), str(truth_file)], check=True, cwd=REPO)
    truth = orjson.loads(truth_file.read_bytes())
    f = truth["faults"][0]
    base = [sys.executable, "-m", "pipeline.cli"]
    out = subprocess.run(base + ["rca", "--clickhouse", f"chdb://{store}", "--from", f["start"], "--to", f["end"]],
                         check=True, capture_output=True, text=True, cwd=REPO).stdout
    # The simulated slow code burns CPU too, so "resource" is as right as "latency" here.
    assert (" 1. catalog  [latency]" in out or " 1. catalog  [resource]" in out) and "self time" in out
    js = subprocess.run(base + ["rca", "--clickhouse", f"chdb://{store}", "--from", str(f["start_ns"]),
                                "--to", str(f["end_ns"]), "--json", "--limit", "2"],
                        check=True, capture_output=True, text=True, cwd=REPO).stdout
    answer = orjson.loads(js)
    assert answer["candidates"][0]["service"] == "catalog" and len(answer["candidates"]) <= 2
    ev = subprocess.run(base + ["evaluate", "--clickhouse", f"chdb://{store}", "--ground-truth", str(truth_file),
                                "--json"], check=True, capture_output=True, text=True, cwd=REPO).stdout
    summary = orjson.loads(ev)
    assert summary["faults"] == 1 and summary["top1"] == 1.0
    assert summary["by_type"]["latency"]["telecorr"]["mrr"] == 1.0
    bad = subprocess.run(base + ["rca", "--clickhouse", f"chdb://{store}", "--from", "2025-01-01T00:00:00Z"],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "--from needs --to" in bad.stderr
