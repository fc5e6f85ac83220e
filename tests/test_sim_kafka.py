"""`telecorr simulate --kafka` on the local broker: OTLP protobuf on the OTLP topics, ground truth
on disk, and every record accounted for."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.test_sim_spec import _cli

pytestmark = pytest.mark.integration


async def _read(broker: str, topic: str, want: int, count) -> int:
    cons = AIOKafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest", group_id=None)
    await cons.start()
    got, deadline = 0, time.monotonic() + 30
    try:
        while got < want and time.monotonic() < deadline:
            for msgs in (await cons.getmany(timeout_ms=500)).values():
                got += sum(count(m.value) for m in msgs)
    finally:
        await cons.stop()
    return got


def test_simulate_publishes_otlp_protobuf(broker, topic_prefix, tmp_path):
    rc = _cli(["simulate", "--broker", broker, "--topic-prefix", topic_prefix, "--duration", "10s", "--rps", "5",
               "--seed", "2", "--kafka", "--truth-dir", str(tmp_path), "--truth-detail"])
    assert rc == 0
    truth = orjson.loads((tmp_path / "ground_truth.json").read_bytes())
    assert (tmp_path / "log_truth.jsonl").stat().st_size > 0

    def spans(v: bytes) -> int:
        return sum(len(s.spans) for r in ExportTraceServiceRequest.FromString(v).resource_spans for s in r.scope_spans)

    def logs(v: bytes) -> int:
        return sum(len(s.log_records) for r in ExportLogsServiceRequest.FromString(v).resource_logs for s in r.scope_logs)

    c = truth["counts"]
    assert asyncio.run(_read(broker, topic_prefix + "otlp_spans", c["spans"], spans)) == c["spans"] > 0
    assert asyncio.run(_read(broker, topic_prefix + "otlp_logs", c["logs"], logs)) == c["logs"] > 0
