"""The correlation agent's work on by-trace v2 messages: the same rows and acknowledgements as
v1, a malformed v2 message dead-lettered with its reason (and acknowledged once the DLQ has
it), and the per-stage seconds the idle-stop event reports."""

from __future__ import annotations

import asyncio

from pipeline.config import Settings
from pipeline.model import Span
from pipeline.shuffle.route import trace_partition
from pipeline.worker.correlation import Correlation
from tests.test_worker_ledger import T0, Stored, _outbox, event
from tests.wire_v2 import v1_message, v2_message

SETTINGS = Settings(topic_partitions="otlp_spans=1,otlp_logs=1,otlp_metrics=1,telemetry.events=1,"
                    "telemetry.raw_logs=1,telemetry.by_trace=8,telemetry.metrics=1")
TRACES = [t for t in (f"{i:032x}" for i in range(1, 99)) if trace_partition(t, 8) == 0][:2]
CAUGHT_UP = {s: (T0 + 60 * 10**9, False) for s in ("otlp_spans/0", "otlp_logs/0", "otlp_metrics/0",
                                                  "telemetry.events/0", "telemetry.raw_logs/0")}


def _span(trace: str, end: int) -> Span:
    return Span(trace_id=trace, span_id="00000000000000a1", parent_span_id="", name="GET /",
                start_ns=end - 1000, end_ns=end, service="svc", host="h")


def _run(encode) -> tuple[list, Stored, list, Correlation]:
    async def run():
        stored, acked, sent = Stored(), [], []
        corr = Correlation(SETTINGS, stored, _outbox(sent))

        async def ack(e):
            acked.append(e.message.offset)
        corr.ack = ack
        await corr.reassign({0})
        ragged = encode([_span(TRACES[0], T0)], []).replace(b'"end_ns":[', b'"end_ns":[1,')
        await corr.take([event(0, 0, encode([_span(TRACES[0], T0)], []), topic="telemetry.by_trace"),
                         event(0, 1, ragged, topic="telemetry.by_trace"),
                         event(0, 2, encode([_span(TRACES[1], T0 + 60 * 10**9)], [], CAUGHT_UP),
                               topic="telemetry.by_trace")], set(), "telemetry.by_trace")
        await corr.emit()
        return acked, stored, sent, corr
    return asyncio.run(run())


def test_v2_messages_give_the_rows_and_acks_v1_gives():
    acked, stored, sent, corr = _run(v2_message)
    assert [r.trace_id for r in stored.rows] == [TRACES[0]]
    assert acked == [0, 1]  # the second trace still owes rows; the bad message is dead-lettered
    assert corr.unreadable == 1 and len(sent) == 1
    reason = dict(sent[0]["headers"])["telecorr.reason"]
    assert b"spans.end_ns: 2 values where the other columns have 1" in reason
    acked1, stored1, _, _ = _run(v1_message)
    assert acked1 == acked and stored1.rows == stored.rows


def test_the_stage_seconds_count_the_work():
    *_, corr = _run(v2_message)
    assert set(corr.seconds) == {"wire", "join", "rows", "insert"}
    assert corr.seconds["wire"] > 0 and corr.seconds["join"] > 0 and corr.seconds["rows"] > 0
    assert corr.seconds["insert"] >= 0
