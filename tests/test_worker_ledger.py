"""The ordered-acknowledgement ledger, and the agents' use of it, driven by a fake stream.

`FakeGroup` commits the way Faust does: per partition, to the end of the first run of
consecutive acknowledged offsets; with nothing committed yet (or a commit of 0) that run may
start anywhere, so a gap at the head is skipped. Whatever the completion order, failures, revocations and
crashes, a committed offset must never pass a message whose work was not done.
"""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

import pytest

from pipeline.config import Settings
from pipeline.ingest.stage import Ingestor
from pipeline.model import Span
from pipeline.shuffle.route import by_trace_messages, trace_partition
from pipeline.worker.selfmetrics import WorkerMetrics
from pipeline.worker.correlation import Correlation
from pipeline.worker.ingest_batches import IngestAgent
from pipeline.worker.ledger import AckLedger
from pipeline.worker.outbox import DeadLetters, Outbox
from pipeline.worker.state import WorkerState
from tests import otlp_samples as S


def event(partition: int, offset: int, value: bytes = b"", topic: str = "otlp_logs") -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition, offset=offset,
                                                   value=value, timestamp=1.7e9, headers=[]))


def partition_of(e) -> int:
    return e.message.partition


class FakeGroup:
    """Acknowledgements in, commits out, as faust-streaming 0.15.3 computes them
    (Consumer.ack and Consumer._new_offset): offsets below the commit are ignored; the
    commit moves to the end of the first run of consecutive acknowledged offsets, unless a
    commit above 0 exists and the run starts more than one past it."""

    def __init__(self) -> None:
        self.acked: dict[int, list[int]] = {}
        self.committed: dict[int, int] = {}  # partition -> next offset to read (Kafka's commit)

    def ack(self, e) -> None:
        p, offset = e.message.partition, e.message.offset
        if offset >= self.committed.get(p, 0):
            self.acked.setdefault(p, []).append(offset)

    def commit(self) -> None:
        for p, acked in self.acked.items():
            if not acked:
                continue
            acked.sort()
            committed = self.committed.get(p)
            if committed and acked[0] - committed > 1:
                continue
            run = 1
            while run < len(acked) and acked[run] == acked[run - 1] + 1:
                run += 1
            self.committed[p] = acked[run - 1] + 1
            del acked[:run]


def test_batches_completed_out_of_order_are_acknowledged_in_consumption_order():
    ledger = AckLedger(partition_of)
    first = ledger.take([event(0, 0), event(1, 0)])
    second = ledger.take([event(0, 1)])
    ledger.complete(second)
    assert ledger.release() == []  # the first batch still owes its write
    assert ledger.in_flight() == 1 and ledger.held() == 3
    ledger.complete(first)
    assert [(e.message.partition, e.message.offset) for e in ledger.release()] == [(0, 0), (1, 0), (0, 1)]
    assert ledger.held() == 0 and ledger.release() == []


def test_a_failed_batch_and_everything_behind_it_stay_unacknowledged():
    ledger = AckLedger(partition_of)
    first, second = ledger.take([event(0, 0)]), ledger.take([event(0, 1)])
    third = ledger.take([event(1, 0)])
    ledger.complete(second)
    ledger.fail(first)
    ledger.complete(third)
    assert ledger.release() == []
    assert ledger.held() == 3  # a restarted worker reads them all again
    assert ledger.in_flight() == 0


def test_revocation_mid_batch_drops_the_lost_partition_and_keeps_the_batch_in_order():
    ledger = AckLedger(partition_of)
    first = ledger.take([event(0, 0), event(1, 0)])
    second = ledger.take([event(0, 1)])
    assert ledger.partitions() == {0, 1}
    assert ledger.revoke({1}) == 1
    ledger.complete(second)
    assert ledger.release() == []  # the first batch, down to partition 0, still holds its place
    ledger.complete(first)
    assert [(e.message.partition, e.message.offset) for e in ledger.release()] == [(0, 0), (0, 1)]


def test_a_batch_wholly_revoked_while_in_flight_still_orders_the_ones_behind_it():
    ledger = AckLedger(partition_of)
    first = ledger.take([event(1, 0)])
    second = ledger.take([event(0, 0)])
    ledger.revoke({1})
    ledger.complete(second)
    assert ledger.release() == []
    ledger.complete(first)
    assert [e.message.offset for e in ledger.release()] == [0]


def test_by_trace_messages_are_released_per_partition_up_to_the_first_still_owed_rows():
    ledger = AckLedger(partition_of, lane_of=partition_of)
    pending = {"t1"}
    ledger.take([event(0, 0)], {"t1"})
    ledger.take([event(0, 1)], ())  # a progress report: owes nothing, but is behind t1
    ledger.take([event(1, 0)], {"t2"})
    ledger.take([event(1, 1)], ())
    released = ledger.release(lambda t: t in pending)
    assert [(e.message.partition, e.message.offset) for e in released] == [(1, 0), (1, 1)]
    pending.clear()
    assert [(e.message.partition, e.message.offset) for e in ledger.release(lambda t: t in pending)] == [(0, 0), (0, 1)]


def test_a_revoked_by_trace_partition_is_never_acknowledged():
    ledger = AckLedger(partition_of, lane_of=partition_of)
    ledger.take([event(0, 0)], {"t1"})
    ledger.take([event(1, 0)], {"t2"})
    ledger.revoke({0})
    assert ledger.partitions() == {1}
    assert [e.message.partition for e in ledger.release(lambda t: False)] == [1]


@pytest.mark.parametrize("seed", range(40))
def test_replay_after_a_crash_never_skips_work_not_done(seed):
    """Random batches over three partitions, completed in random order, some failing, then a
    crash: every offset the group committed belongs to a batch whose work was done, and
    acknowledgements never skip ahead of a message still owed."""
    rng = random.Random(seed)
    ledger, group = AckLedger(partition_of), FakeGroup()
    offsets = {0: 0, 1: 0, 2: 0}
    entries, done = [], set()
    for _ in range(rng.randint(3, 12)):
        batch = []
        for _ in range(rng.randint(1, 5)):
            p = rng.randrange(3)
            batch.append(event(p, offsets[p]))
            offsets[p] += 1
        entries.append((ledger.take(batch), batch))
    order = list(range(len(entries)))
    rng.shuffle(order)
    crash_after = rng.randint(0, len(order))
    for i in order[:crash_after]:
        entry, batch = entries[i]
        if rng.random() < 0.15:
            ledger.fail(entry)
            continue
        ledger.complete(entry)
        done.update((e.message.partition, e.message.offset) for e in batch)
        for e in ledger.release():
            group.ack(e)
        group.commit()
    for p, start in group.committed.items():  # the replay starts at `start`
        assert all((p, o) in done for o in range(start)), (p, start, sorted(done))


def _settings(**kw) -> Settings:
    return Settings(max_inflight_batches=4, **kw)


class Writes:
    """A sink whose writes finish when the test says so (or fail)."""

    def __init__(self) -> None:
        self.gates: list[asyncio.Future] = []
        self.batches: list[dict] = []

    async def write(self, batch: dict) -> None:
        gate = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        await gate
        self.batches.append(batch)


def _outbox(sent: list) -> Outbox:
    async def send(**kw):
        sent.append(kw)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done
    return Outbox(send, send, send, send)


def _agent(sink, crashed: list) -> IngestAgent:
    settings = _settings()
    out = _outbox([])

    async def crash(exc):
        crashed.append(exc)
    return IngestAgent("otlp_logs", settings, Ingestor(settings), None, sink, out, DeadLetters(out, sink),
                       WorkerState(), WorkerMetrics(), dict(settings.declared_topics()), crash)


def test_the_ingest_agent_acks_a_later_batch_only_after_the_earlier_ones_write():
    async def run() -> list:
        sink, crashed, acked = Writes(), [], []
        agent = _agent(sink, crashed)
        agent.decode_pool = None  # the loop's default executor

        async def ack(e):
            acked.append((e.message.partition, e.message.offset))
        await agent.take([event(0, 0, S.logs(1, 5)[0]), event(1, 0, S.logs(2, 5)[0])], ack)
        await agent.take([event(0, 1, S.logs(3, 5)[0])], ack)
        while len(sink.gates) < 2:
            await asyncio.sleep(0.01)
        sink.gates[1].set_result(None)  # the second batch's write finishes first
        await asyncio.sleep(0.05)
        assert acked == [] and agent.state.in_flight == 1
        sink.gates[0].set_result(None)
        await asyncio.gather(*agent.tasks)
        assert not crashed
        assert agent.state.records["logs"] == 15 and agent.state.messages["otlp_logs"] == 3
        return acked
    assert asyncio.run(run()) == [(0, 0), (1, 0), (0, 1)]


def test_an_undeliverable_batch_crashes_the_worker_and_nothing_from_it_on_is_acked():
    async def run() -> tuple[list, list]:
        sink, crashed, acked = Writes(), [], []
        agent = _agent(sink, crashed)
        agent.decode_pool = None

        async def ack(e):
            acked.append(e.message.offset)
        await agent.take([event(0, 0, S.logs(1, 5)[0])], ack)
        await agent.take([event(0, 1, S.logs(2, 5)[0])], ack)
        while len(sink.gates) < 2:
            await asyncio.sleep(0.01)
        sink.gates[0].set_exception(ConnectionError("store gone for good"))
        sink.gates[1].set_result(None)
        await asyncio.gather(*agent.tasks)
        return acked, crashed
    acked, crashed = asyncio.run(run())
    assert acked == [] and len(crashed) == 1 and isinstance(crashed[0], ConnectionError)


T0 = 1_700_000_000_000_000_000


def _by_trace_event(partition: int, offset: int, spans: list[Span], progress=None) -> SimpleNamespace:
    [(_, value)] = [(p, v) for p, v in by_trace_messages(spans, [], 8, progress) if p == partition] or [(0, b"{}")]
    return event(partition, offset, value, topic="telemetry.by_trace")


class Stored:
    def __init__(self) -> None:
        self.rows: list = []

    async def write(self, batch: dict) -> None:
        self.rows += batch.get("correlated_spans", [])


def test_the_correlation_acks_a_by_trace_message_once_its_trace_is_stored_and_drops_a_lost_partition():
    settings = Settings(topic_partitions="otlp_spans=1,otlp_logs=1,otlp_metrics=1,telemetry.events=1,"
                        "telemetry.raw_logs=1,telemetry.by_trace=8,telemetry.metrics=1")
    trace, later = [t for t in (f"{i:032x}" for i in range(1, 99)) if trace_partition(t, 8) == 0][:2]
    other = next(t for t in (f"{i:032x}" for i in range(1, 99)) if trace_partition(t, 8) == 1)

    def span(t: str, end: int) -> Span:
        return Span(trace_id=t, span_id="00000000000000a1", parent_span_id="", name="GET /",
                    start_ns=end - 1000, end_ns=end, service="svc", host="h")
    caught_up = {s: (T0 + 60 * 10**9, False) for s in ("otlp_spans/0", "otlp_logs/0", "otlp_metrics/0",
                                                      "telemetry.events/0", "telemetry.raw_logs/0")}

    async def run() -> tuple[list, Stored]:
        stored, acked = Stored(), []
        corr = Correlation(settings, stored, _outbox([]))

        async def ack(e):
            acked.append((e.message.partition, e.message.offset))
        corr.ack = ack
        await corr.reassign({0, 1})
        await corr.take([_by_trace_event(0, 0, [span(trace, T0)]),
                         _by_trace_event(1, 0, [span(other, T0)])], set(), "telemetry.by_trace")
        await corr.emit()
        assert acked == []  # no source has reported: nothing completes, nothing is acked
        await corr.reassign({0})  # partition 1 goes to another worker mid-trace
        # every source caught up, and a newer trace moves the watermark past the first one
        await corr.take([_by_trace_event(0, 1, [span(later, T0 + 60 * 10**9)], caught_up)], set(),
                        "telemetry.by_trace")
        await corr.emit()
        assert corr.ledger.held() == 1  # the newer trace still owes rows
        return acked, stored
    acked, stored = asyncio.run(run())
    assert acked == [(0, 0)]
    assert [r.trace_id for r in stored.rows] == [trace]
