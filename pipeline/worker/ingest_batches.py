"""One ingest agent's work on its input topic: decode a consumed batch, dead-letter what is
undecodable, write and forward what decoded, then acknowledge in consumption order
(docs/architecture.md "Delivery"). The Faust agent in agents/app.py only feeds it batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from pipeline.column_batch import ColumnBatch
from pipeline.config import Settings
from pipeline.ingest.decode.limits import split_batch
from pipeline.ingest.stage import Ingestor
from pipeline.shuffle.route import by_trace_messages, metric_messages
from pipeline.worker.selfmetrics import WorkerMetrics
from pipeline.store.writer import Sink
from pipeline.worker.ledger import AckLedger
from pipeline.worker.outbox import DeadLetters, Outbox, delivered
from pipeline.worker.progress import SourceProgress, time_bounds
from pipeline.worker.state import WorkerState, emit

Ack = Callable[[object], Awaitable]  # acknowledges one consumed event (Faust's Stream.ack)


def partition_of(event) -> int:
    return event.message.partition


class IngestAgent:
    """Batches of one logical input topic, from take to acknowledgement.

    Up to `max_inflight_batches` batches are written concurrently, so decoding the next batch
    overlaps the insert of the previous one; each is acknowledged only once its own write and
    forward have finished and every batch taken before it has been acknowledged (AckLedger)."""

    def __init__(self, logical: str, settings: Settings, ingestor: Ingestor, decode_pool: Executor,
                 sink: Sink, out: Outbox, letters: DeadLetters, state: WorkerState, metrics: WorkerMetrics,
                 partitions: dict[str, int], crash: Callable[[BaseException], Awaitable]) -> None:
        self.logical = logical
        self.ingestor = ingestor
        self.decode_pool = decode_pool  # one thread: the matcher is not thread-safe
        self.sink, self.out, self.letters = sink, out, letters
        self.state, self.metrics = state, metrics
        self.by_trace_partitions = partitions["telemetry.by_trace"]
        self.crash = crash  # stops the worker loudly (Faust's App.crash)
        self.progress = SourceProgress(logical)
        self.ledger: AckLedger = AckLedger(partition_of)
        self.slots = asyncio.Semaphore(settings.max_inflight_batches)
        self.batch_size, self.within_s = settings.consume_batch, settings.consume_within_s  # per take
        self.ahead = int(settings.max_skew_s * 1e9)  # how far past its Kafka time a record moves progress
        self.tasks: set[asyncio.Task] = set()

    async def take_all(self, taken: list, ack: Ack) -> None:
        """One consumed batch, a run at a time, so a batch of huge or line-packed messages
        cannot take unbounded memory (pipeline/ingest/decode/limits.py)."""
        for lo, hi in split_batch([e.message.value or b"" for e in taken], self.ingestor.limits):
            await self.take(taken[lo:hi], ack)

    async def take(self, events: list, ack: Ack) -> None:
        """Decode a run (in the decode thread, so heartbeats and acks stay responsive),
        dead-letter its bad messages, and leave its write to a task of its own."""
        await self.slots.acquire()
        state = self.state
        state.in_flight += 1
        state.batch_taken()
        entry = self.ledger.take(events)  # its place in consumption order
        started = time.perf_counter()
        for e in events:
            self.progress.taken(e.message.partition, e.message.offset)
        batch, parts = await asyncio.get_running_loop().run_in_executor(self.decode_pool, self.decode, events)
        for partition, last_offset, (oldest, _) in parts:
            self.progress.decoded(partition, last_offset, oldest)
        self.metrics.batch_seconds.labels(stage="decode").observe(time.perf_counter() - started)
        dlq_rows = await self.letters.for_batch(events, batch.errors) if batch.errors else []
        task = asyncio.ensure_future(self.finish(entry, events, batch, dlq_rows, parts, ack))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def decode(self, events: list):
        """Decode per source partition (so each one's progress is known); returns the batch
        and, per partition, its last offset and oldest and newest (guarded) event times."""
        parts: dict = {}
        for i, e in enumerate(events):
            idx, values, stamps = parts.setdefault(e.message.partition, ([], [], []))
            idx.append(i)
            values.append(e.message.value or b"")
            stamps.append(int((e.message.timestamp or 0) * 1e9))
        batch, each = self.ingestor.process_sources(self.logical, list(parts.values()))
        ends = {p: max(events[i].message.offset for i in idx) for p, (idx, _, _) in parts.items()}
        return batch, [(p, ends[p], time_bounds(res.spans, res.logs, res.metrics, self.ahead))
                       for p, res in zip(parts, each)]

    async def forward(self, batch, logs: ColumnBatch) -> None:
        """Re-key spans and logs by trace, and share metric points, for the join (delivered
        before the source is acknowledged, like everything else)."""
        sends = [await self.out.by_trace(key=b"%d" % p, value=v, partition=p)
                 for p, v in by_trace_messages(batch.spans, logs, self.by_trace_partitions)]
        if batch.metrics:
            sends += [await self.out.metrics(value=v) for v in metric_messages(batch.metrics)]
        await delivered(sends)

    async def finish(self, entry, events: list, batch, dlq_rows: list, parts: list, ack: Ack) -> None:
        started = time.perf_counter()
        state = self.state
        try:
            await asyncio.gather(  # logs are columns from decode on, like spans
                self.sink.write({"spans": batch.spans, "logs": batch.logs, "metrics": batch.metrics, "dlq": dlq_rows}),
                self.forward(batch, batch.logs))
            for partition, last_offset, (_, newest) in parts:
                self.progress.forwarded(partition, last_offset, newest)
            self.ledger.complete(entry)
            for event in self.ledger.release():  # this batch and any finished behind it, in order
                await ack(event)
            state.records["spans"] += len(batch.spans)
            state.records["logs"] += len(batch.logs)
            state.records["metrics"] += len(batch.metrics)
            state.dead_letters += len(dlq_rows)
            state.messages[self.logical] += len(events)
            self.metrics.batch_seconds.labels(stage="store").observe(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - reported, then the worker stops
            # The store retries by itself, so this is a send that cannot succeed. The batches
            # behind this one wait for it (acks stay in order): rather than stall silently,
            # stop the worker loudly. Nothing from this batch on was acknowledged, so a
            # restarted worker reads it again.
            self.ledger.fail(entry)
            emit("error", msg=f"could not deliver a batch from {self.logical}: {type(exc).__name__}: {exc}")
            await self.crash(exc)
        finally:
            state.in_flight -= 1
            state.active()
            state.batch_finished()
            self.slots.release()

    def revoke(self, assigned: set[int]) -> None:
        """A new assignment of this topic's partitions: forget batches' messages from the others."""
        self.ledger.revoke(self.ledger.partitions() - assigned)
