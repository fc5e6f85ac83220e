"""The simulator's shop through decode, the by-trace wire and the join, in one process: the
correlated rows as JSON-ready dicts, for comparing builds (compiled / plain source) and wire
versions row for row. Run as `python -m tests.sim_rows v1|v2` it prints them as JSON lines.
"""

from __future__ import annotations

import sys
import tempfile

import orjson

from pipeline.column_batch import ColumnBatch
from pipeline.config import Settings
from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.ingest.stage import Ingestor
from pipeline.model import CorrelatedSpan
from pipeline.shuffle.route import by_trace_messages
from pipeline.sim import SimConfig, Simulation, kafka_messages
from pipeline.shuffle.wirecheck import read_by_trace

NS = 1_000_000_000
PARTITIONS = 4


def _v2(value: bytes) -> bytes:
    """A v1 message re-encoded as v2 (tests/wire_v2.py), the same records and progress."""
    from tests.wire_v2 import v2_message
    spans, logs, progress = read_by_trace(value)
    return v2_message(spans, logs, progress)


def simulator_rows(wire: str = "v1", seconds: float = 20, rps: float = 40, seed: int = 7,
                   columns: bool = False) -> list[dict]:
    """Every correlated row (every version) in emission order, with `trace_complete_ns` kept;
    `columns`: read as the worker does (`poll_columns`), else as records (`poll`)."""
    sim = Simulation(SimConfig(preset="shop", duration_ns=int(seconds * NS), rps=rps, seed=seed,
                               encoding="otlp-proto", batch=64))
    ingestor = Ingestor(Settings())
    engine = Correlator(CorrelateConfig())
    rows = ColumnBatch(CorrelatedSpan) if columns else []
    for topic, _, value in kafka_messages(sim, tempfile.gettempdir()):
        res = ingestor.process(topic, [value], [0])
        if res.metrics:
            engine.add(metrics=res.metrics)
        for partition, msg in by_trace_messages(res.spans, res.logs, PARTITIONS):
            spans, logs, _ = read_by_trace(_v2(msg) if wire == "v2" else msg)
            engine.add(spans, logs, partition=partition)
        rows += engine.poll_columns() if columns else engine.poll()
    rows += engine.flush_columns() if columns else engine.flush_all()
    return orjson.loads(orjson.dumps(rows.records() if columns else rows))  # the rows' fields as JSON has them


if __name__ == "__main__":
    for row in simulator_rows(sys.argv[1] if len(sys.argv) > 1 else "v1"):
        sys.stdout.buffer.write(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n")
