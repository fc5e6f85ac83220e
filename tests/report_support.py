"""Data for the report-page tests: a simulated shop with one injected fault, run through the
library pipeline in process (decode → parse/tag → correlate) into a chDB database of its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pipeline.config import Settings
from benchmarks.harness.offline import OfflinePipeline
from pipeline.sim import SimConfig, Simulation, parse_fault
from pipeline.store.migrate import migrate

FAULT = "type=error,target=cart,start=+45s,duration=30s"


@dataclass
class FaultStore:
    client: object
    fault: dict  # the simulator's ground truth for the injected fault
    failing_trace: str  # a trace whose deepest failure is in the faulty service


def build(chdb_root) -> tuple[FaultStore, object, str]:
    """(store, admin client, database name); drop the database when done."""
    import clickhouse_connect

    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}")
    db = "t_" + uuid.uuid4().hex[:12]
    admin.command(f"CREATE DATABASE {db}")
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}", database=db)
    migrate(client, Settings())
    sim = Simulation(SimConfig(duration_ns=90 * 10**9, rps=10, seed=3, faults=[parse_fault(FAULT)]))
    pipe = OfflinePipeline(client)
    pipe.feed_simulation(sim)
    pipe.close()
    fault = sim.ground_truth()["faults"][0]
    tid = client.query(
        "SELECT trace_id FROM correlated_spans FINAL WHERE own_error AND service = {s:String} "
        "ORDER BY trace_id LIMIT 1", parameters={"s": fault["service"]}).result_rows[0][0]
    return FaultStore(client, fault, tid), admin, db
