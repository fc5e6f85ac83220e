"""Simulated fault runs loaded into chDB for the root-cause tests (every stage, in-process)."""

from __future__ import annotations

import uuid

from pipeline.config import Settings
from benchmarks.harness.offline import OfflinePipeline
from pipeline.sim.faults import parse_fault
from pipeline.sim.simulator import SimConfig, Simulation
from pipeline.store.migrate import migrate

S = 10**9
# Fault spec -> (service that must rank first, its kind), one run each, shared by the tests.
CASES = {
    "error": ("type=error,target=cart", "cart", "error"),
    "dependency-down": ("type=dependency-down,target=postgres", "postgres", "dependency"),
    "network-delay": ("type=network-delay,target=frontend->cart", "cart", "network"),
    "cpu": ("type=cpu,target=currency", "currency", "resource"),
}
NORMAL_S, FAULT_S = 90, 45


def load_fault(chdb_root, spec: str, seed: int = 7, signals: tuple[str, ...] = ("traces", "logs", "metrics"),
               profile: str = "otel"):
    """A fresh database holding one simulated run with `spec` injected after a normal period.

    Returns (client, ground truth). `signals` drops whole signals, as a deployment without
    metrics or logs would; `profile` is the simulator's instrumentation profile."""
    import clickhouse_connect

    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}")
    db = "rca_" + uuid.uuid4().hex[:10]
    admin.command(f"CREATE DATABASE {db}")
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}", database=db)
    migrate(client, Settings())
    sim = Simulation(SimConfig(preset="shop", duration_ns=(NORMAL_S + FAULT_S + 5) * S, seed=seed,
                               faults=[parse_fault(f"{spec},start=+{NORMAL_S}s,duration={FAULT_S}s")],
                               profile=profile))
    pipe = OfflinePipeline(client)
    kinds = {"traces": "otlp_spans", "logs": "otlp_logs", "metrics": "otlp_metrics"}
    pipe.feed((kinds[sig], payload) for sig, payload in sim.messages() if sig in signals)
    pipe.close()
    return client, sim.ground_truth()
