"""Which by-trace partitions the correlate agent treats as its own across a rebalance.

Faust resumes fetching from a separate task while the on_partitions_assigned signal is still
being delivered, so the first messages of a newly assigned partition can arrive before
`Correlation.reassign` has run. They must be taken (the partition is in the consumer's
assignment), not skipped: a skipped message's traces were never correlated anywhere.
"""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from pipeline.worker.correlation import Correlation
from pipeline.config import Settings
from pipeline.model import Span

T0 = 1_700_000_000_000_000_000


def _span(trace: str) -> Span:
    return Span(trace_id=trace, span_id="00000000000000a1", parent_span_id="", name="GET /",
                start_ns=T0, end_ns=T0 + 1000, service="svc", host="h")


def test_a_partition_in_the_assignment_is_adopted_before_its_signal_and_kept_by_it():
    corr = Correlation(Settings(), sink=None)
    asyncio.run(corr.reassign({0}))
    topic = "telemetry.by_trace"
    assignment = {TopicPartition(topic, 0), TopicPartition(topic, 2)}
    assert corr.adopt(2, assignment, topic)  # assigned, signal not yet delivered
    assert not corr.adopt(3, assignment, topic)  # really someone else's
    corr.engine.add([_span("a" * 32)], [], partition=2)
    asyncio.run(corr.reassign({0, 2}))  # the signal arrives late: nothing read from 2 is dropped
    assert corr.owned == {0, 2}
    assert corr.engine.is_pending("a" * 32)
    asyncio.run(corr.reassign({0}))  # and a real loss still forgets it
    assert not corr.engine.is_pending("a" * 32)
