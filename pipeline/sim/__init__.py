"""Telemetry simulator: a microservice system's traces, logs and metrics with faults whose truth is known.

In-process use (tests and benchmarks of other stages):

    from pipeline.sim import SimConfig, Simulation, parse_fault
    sim = Simulation(SimConfig(preset="shop", duration_ns=60 * 10**9, rps=50, seed=1,
                               faults=[parse_fault("type=cpu,target=cart,start=+20s,duration=30s")]))
    for signal, payload in sim.messages():   # signal: traces | logs | metrics (| log_truth)
        ...                                  # payload: one OTLP/JSON (or protobuf, or flat-event) message
    truth = sim.ground_truth()               # final counts once messages() is exhausted

`write_files(sim, dir)` and `kafka_messages(sim, truth_dir)` are what `telecorr simulate` uses.
"""

from pipeline.sim.clock import parse_skew
from pipeline.sim.faults import FAULT_TYPES, parse_fault
from pipeline.ingest.framing import read_delimited
from pipeline.sim.output import kafka_messages, write_files
from pipeline.sim.simulator import ENCODINGS, SimConfig, Simulation, simulate
from pipeline.sim.topology import PRESETS, load_topology

__all__ = ["ENCODINGS", "FAULT_TYPES", "PRESETS", "SimConfig", "Simulation", "kafka_messages", "load_topology",
           "parse_fault", "parse_skew", "read_delimited", "simulate", "write_files"]
