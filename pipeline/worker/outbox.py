"""The topics the worker writes, as plain send functions (Faust's `Topic.send` in the app,
fakes in unit tests), and the dead letters it sends through them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipeline.shuffle.deadletter import dlq_message, per_message
from pipeline.store.writer import Sink

# send(key=..., value=..., partition=..., headers=...): awaiting it queues the message and
# gives a future that resolves once the broker has it (the shape of Faust's Topic.send).
Send = Callable[..., Awaitable[Awaitable]]


@dataclass(slots=True)
class Outbox:
    dlq: Send
    by_trace: Send
    metrics: Send
    skew: Send


async def delivered(sends: list[Awaitable]) -> None:
    """Wait until the broker has every queued message (before any source is acknowledged)."""
    await asyncio.gather(*sends)


class DeadLetters:
    """Bad input to the DLQ topic with its reason (and to the `dlq` table through the sink)."""

    def __init__(self, out: Outbox, sink: Sink | None) -> None:
        self.out = out
        self.sink = sink

    async def for_batch(self, events: list, errors: list) -> list[tuple]:
        """Each message with undecodable input once (original bytes, where it came from, its
        problems summarised), however many bad records it holds; returns the `dlq` rows to
        write with the batch."""
        rows, sends = [], []
        for index, reason, count in per_message(errors):
            msg = events[index].message
            value, headers, row = dlq_message(msg.topic, msg.partition, msg.offset, msg.value, reason)
            headers.append(("telecorr.errors", str(count).encode()))
            sends.append(await self.out.dlq(key=msg.topic.encode(), value=value, headers=headers))
            rows.append(row)
        await delivered(sends)
        return rows

    async def one(self, msg, reason: str) -> None:
        """One internal-topic message the engine cannot read (a bug or a foreign producer),
        instead of stopping the agent; stored before its source is acknowledged."""
        value, headers, row = dlq_message(msg.topic, msg.partition, msg.offset, msg.value, reason)
        await (await self.out.dlq(key=msg.topic.encode(), value=value, headers=headers))
        await self.sink.write({"dlq": [row]})

    async def rejected(self, letters: list) -> None:
        """Rows the store refused for good (pipeline/store/failures.py) also go on the DLQ topic."""
        await delivered([await self.out.dlq(key=row[0].encode(), value=value, headers=headers)
                         for value, headers, row in letters])
