"""The correlation emitter's rounds: a round's insert runs in the background so the next poll
is not held back by it, yet a by-trace message is acknowledged only once the rows of its
traces (and of every earlier round) are stored."""

from __future__ import annotations

import asyncio

from pipeline.model import Span
from pipeline.shuffle.route import trace_partition
from pipeline.worker.correlation import Correlation
from tests.test_worker_ledger import T0, _by_trace_event, _outbox
from tests.test_worker_v2 import CAUGHT_UP, SETTINGS, TRACES

S = 10**9
THIRD = [t for t in (f"{i:032x}" for i in range(1, 999)) if trace_partition(t, 8) == 0][2]


class GatedStore:
    """A store whose inserts finish only when the test opens their gate, in call order."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, asyncio.Event]] = []
        self.stored: list[str] = []

    async def write(self, batch: dict) -> None:
        gate = asyncio.Event()
        rows = [r.trace_id for r in batch.get("correlated_spans", [])]
        self.calls.append((rows, gate))
        await gate.wait()
        self.stored += rows


def _span(trace: str, end: int) -> Span:
    return Span(trace_id=trace, span_id="00000000000000a1", parent_span_id="", name="GET /",
                start_ns=end - 1000, end_ns=end, service="svc", host="h")


def test_a_slow_insert_does_not_hold_the_next_poll_and_acks_wait_for_their_rows():
    async def run() -> None:
        store, acked = GatedStore(), []
        corr = Correlation(SETTINGS, store, _outbox([]))

        async def ack(e):
            acked.append(e.message.offset)
        corr.ack = ack
        await corr.reassign({0})
        first, second = TRACES
        await corr.take([_by_trace_event(0, 0, [_span(first, T0)]),
                         _by_trace_event(0, 1, [_span(second, T0 + 60 * S)], CAUGHT_UP)], set(), "telemetry.by_trace")
        await corr.emit(wait=False)  # the first trace completes; its insert hangs
        await asyncio.sleep(0)
        assert [rows for rows, _ in store.calls] == [[first]]
        # A later trace moves the watermark past the second one: the next round polls and
        # starts its insert although the first is still under way.
        await corr.take([_by_trace_event(0, 2, [_span(THIRD, T0 + 120 * S)], CAUGHT_UP)],
                        set(), "telemetry.by_trace")
        await corr.emit(wait=False)
        await asyncio.sleep(0)
        assert [rows for rows, _ in store.calls] == [[first], [second]]
        assert acked == []  # nothing stored yet
        store.calls[1][1].set()  # the second round's rows are stored first ...
        for _ in range(5):
            await asyncio.sleep(0)
        assert acked == []  # ... but its messages wait for the first round
        store.calls[0][1].set()
        await corr.emit()  # waits for every round under way
        assert store.stored == [second, first]
        assert acked == [0, 1]  # message 2's trace is still in flight
    asyncio.run(run())


def test_a_failed_round_stops_the_next_emit():
    class Broken:
        async def write(self, batch: dict) -> None:
            raise RuntimeError("store gone")

    async def run() -> None:
        corr = Correlation(SETTINGS, Broken(), _outbox([]))

        async def ack(e):
            raise AssertionError("nothing may be acknowledged")
        corr.ack = ack
        await corr.reassign({0})
        await corr.take([_by_trace_event(0, 0, [_span(TRACES[0], T0)]),
                         _by_trace_event(0, 1, [_span(TRACES[1], T0 + 60 * S)], CAUGHT_UP)], set(), "telemetry.by_trace")
        await corr.emit(wait=False)
        for _ in range(5):
            await asyncio.sleep(0)
        try:
            await corr.emit(wait=False)
        except RuntimeError as exc:
            return str(exc)
        return None
    assert asyncio.run(run()) == "store gone"
