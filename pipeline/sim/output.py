"""Where a simulation's output goes: a directory of files, or the Kafka topics.

Files follow the Collector's file exporter: one export request per line for OTLP/JSON,
varint-length-delimited messages for OTLP protobuf, one event per line for flat JSON. The
ground truth is written last, so its counts are the final ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from pipeline.ingest.framing import varint
from pipeline.sim.simulator import Simulation

FILE_NAMES = {
    "otlp-json": {"traces": "traces.jsonl", "logs": "logs.jsonl", "metrics": "metrics.jsonl"},
    "otlp-proto": {"traces": "traces.binpb", "logs": "logs.binpb", "metrics": "metrics.binpb"},
    "jsonl": {"traces": "events.jsonl", "logs": "events.jsonl", "metrics": "events.jsonl"},
}
# Logical topics (deploy/kafka/topics.txt) per encoding and signal.
KAFKA_TOPICS = {
    "otlp-json": {"traces": "otlp_spans", "logs": "otlp_logs", "metrics": "otlp_metrics"},
    "otlp-proto": {"traces": "otlp_spans", "logs": "otlp_logs", "metrics": "otlp_metrics"},
    "jsonl": {"traces": "telemetry.events", "logs": "telemetry.events", "metrics": "telemetry.events"},
}
TRUTH_FILE = "ground_truth.json"
LOG_TRUTH_FILE = "log_truth.jsonl"


def write_truth(sim: Simulation, directory: Path) -> Path:
    path = directory / TRUTH_FILE
    path.write_bytes(orjson.dumps(sim.ground_truth(), option=orjson.OPT_INDENT_2) + b"\n")
    return path


def write_files(sim: Simulation, directory: str | Path) -> dict[str, int]:
    """Run the simulation into `directory`; returns the final counts."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    names = FILE_NAMES[sim.config.encoding]
    proto = sim.config.encoding == "otlp-proto"
    files: dict[str, BinaryIO] = {}
    try:
        for name in sorted(set(names.values())):
            files[name] = open(out / name, "wb")
        if sim.config.truth_detail:
            files[LOG_TRUTH_FILE] = open(out / LOG_TRUTH_FILE, "wb")
        for signal, payload in sim.messages():
            if signal == "log_truth":
                files[LOG_TRUTH_FILE].write(payload + b"\n")
            elif proto:
                f = files[names[signal]]
                f.write(varint(len(payload)))
                f.write(payload)
            else:
                files[names[signal]].write(payload + b"\n")
    finally:
        for f in files.values():
            f.close()
    write_truth(sim, out)
    return dict(sim.counts)


def kafka_messages(sim: Simulation, truth_dir: str | Path) -> Iterator[tuple[str, bytes | None, bytes]]:
    """(logical topic, key, value) for pipeline.kafka.io.publish; log truth goes to truth_dir."""
    topics = KAFKA_TOPICS[sim.config.encoding]
    truth = None
    if sim.config.truth_detail:
        Path(truth_dir).mkdir(parents=True, exist_ok=True)
        truth = open(Path(truth_dir) / LOG_TRUTH_FILE, "wb")
    try:
        for signal, payload in sim.messages():
            if signal == "log_truth":
                truth.write(payload + b"\n")
            else:
                yield topics[signal], None, payload
    finally:
        if truth is not None:
            truth.close()
