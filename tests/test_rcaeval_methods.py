"""RCAEval's published methods as the root-cause benchmark's comparison: the input they get from
the store, and their answers on a real simulated fault (benchmarks/rcaeval_methods.py)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from pipeline.config import Settings
from benchmarks.harness.offline import OfflinePipeline
from pipeline.sim.faults import parse_fault
from pipeline.sim.simulator import SimConfig, Simulation
from pipeline.store.migrate import migrate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import rcaeval_methods  # noqa: E402

S = 10**9
FAULT = "type=cpu,target=catalog,start=+120s,duration=60s"
OK, WHY = rcaeval_methods.available()


@pytest.fixture(scope="module")
def shop(chdb_root):
    """(client, ground truth): the shop preset with a CPU fault on catalog, stored once per module."""
    import clickhouse_connect

    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}")
    db = "t_" + uuid.uuid4().hex[:12]
    admin.command(f"CREATE DATABASE {db}")
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}", database=db)
    migrate(client, Settings())
    sim = Simulation(SimConfig(preset="shop", duration_ns=180 * S, seed=1, faults=[parse_fault(FAULT)]))
    pipe = OfflinePipeline(client)
    pipe.feed_simulation(sim)
    pipe.close()
    yield client, sim.ground_truth()
    admin.command(f"DROP DATABASE IF EXISTS {db} SYNC")


def _window(truth: dict) -> tuple[int, int, int]:
    f = truth["faults"][0]
    return f["start_ns"], f["end_ns"], truth["start_ns"]


def test_frame_has_rcaeval_layout_and_shows_the_fault(shop):
    client, truth = shop
    lo, hi, bf = _window(truth)
    frame, owner = rcaeval_methods.build_frame(client, lo, hi, bf)
    services = {i["service"] for i in truth["instances"]}

    assert frame.columns[0] == "time"
    step = rcaeval_methods.BUCKET_NS / S
    times = frame["time"].to_numpy()
    assert (times[1:] - times[:-1] == step).all()
    assert lo / S in set(times)  # a bucket starts at the injection time: none straddles it
    assert times[0] >= bf / S and times[-1] + step <= hi / S
    assert not frame.isna().any().any()
    # RCAEval splits `<service>_<metric>` at "_": exactly one, and every column has an owner.
    cols = [c for c in frame.columns if c != "time"]
    assert all(c.count("_") == 1 for c in cols)
    assert set(owner) == set(cols) and set(owner.values()) <= services
    for metric in ("cpu", "mem", "latency-50", "latency-90", "error", "workload"):
        assert f"catalog_{metric}" in frame.columns
    # Spans to databases without spans of their own reach the callee's series.
    assert "postgres_calllatency-90" in frame.columns and "postgres_cpu" in frame.columns

    during = frame["time"] >= lo / S
    for col in ("catalog_cpu", "catalog_latency-90"):
        assert frame.loc[during, col].mean() > 2 * frame.loc[~during, col].mean(), col
    assert frame.loc[~during, "catalog_workload"].sum() > 0


@pytest.mark.parametrize("method", rcaeval_methods.METHODS)
def test_method_ranks_known_services_with_the_faulty_one_near_the_top(shop, method):
    client, truth = shop
    lo, hi, bf = _window(truth)
    if not OK:
        with pytest.raises(RuntimeError, match="RCAEval"):
            rcaeval_methods.rank_services(client, method, lo, hi, bf)
        return
    ranked = rcaeval_methods.rank_services(client, method, lo, hi, bf)
    services = {i["service"] for i in truth["instances"]}
    assert ranked and len(ranked) == len(set(ranked)) and set(ranked) <= services
    assert truth["faults"][0]["service"] in ranked[:3], ranked


def test_available_names_the_package_or_the_reason():
    assert isinstance(OK, bool) and WHY
    assert ("RCAEval 1." in WHY) if OK else WHY.startswith("RCAEval does not import here")


def test_service_names_with_underscores_map_back(ch_client):
    migrate(ch_client, Settings())
    t0 = 1_750_000_000 * S
    names = ["id", "name", "type", "service", "instance", "time_ns", "value"]
    rows = []
    for k in range(60):  # one gauge a second: 50 s of baseline, 10 s of window
        for svc in ("order_svc", "pay.svc", "cart"):
            jump = svc == "order_svc" and k >= 50
            # Noise that survives the per-bucket max: RCAEval drops series constant in either period.
            value = (0.9 if jump else 0.1) + 0.01 * ((k * k + len(svc)) % 13)
            rows.append([f"{svc}-{k}", "process.cpu.utilization", "gauge", svc, f"{svc}-1",
                         t0 + k * S, value])
    ch_client.insert("metrics", rows, column_names=names)
    lo, hi = t0 + 50 * S, t0 + 60 * S
    frame, owner = rcaeval_methods.build_frame(ch_client, lo, hi, t0)
    assert owner == {"order-svc_cpu": "order_svc", "pay.svc_cpu": "pay.svc", "cart_cpu": "cart"}
    assert len(frame) == 12
    assert frame["order-svc_cpu"].iloc[10:].min() > frame["order-svc_cpu"].iloc[:10].max()
    if OK:
        for method in rcaeval_methods.METHODS:
            assert rcaeval_methods.rank_services(ch_client, method, lo, hi, t0)[0] == "order_svc"


def test_bad_arguments_fail_clearly(shop):
    client, truth = shop
    lo, hi, _ = _window(truth)
    with pytest.raises(ValueError, match="unknown RCAEval method"):
        rcaeval_methods.rank_services(client, "nope", lo, hi, lo - 60 * S)
    with pytest.raises(ValueError, match="baseline"):
        rcaeval_methods.build_frame(client, lo, hi, lo - 5 * S)
