"""The correlation agent's work: by-trace messages into the engine, completed traces to the
store, and acknowledgements held back until no trace a message carried still owes rows
(docs/architecture.md "Delivery"). The Faust declarations are in agents/correlate.py.

A by-trace message is acknowledged only once none of the traces it carried still owes rows
and those rows are in ClickHouse, so committed offsets never pass a record whose effect is
not stored; after a crash the in-flight traces are rebuilt by replaying from there.

Clock-skew pair sketches go on the skew topic before the messages that produced them are
acknowledged, and every worker reads all of it from the beginning: the offset tables then
come from every worker's pairs (the same tables as one worker's), and a restarted worker gets
back the pairs of traces it will not replay.

On a rebalance the same rule moves traces between workers: a by-trace partition this worker
loses is forgotten here (engine state, watermark and held messages, which are never acked),
and its new owner replays it from the last commit, which no pending trace's record precedes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition

from pipeline.config import Settings
from pipeline.correlate import Correlator, from_settings
from pipeline.correlate.skew_share import decode_samples, encode_samples
from pipeline.shuffle.route import read_metrics, read_progress
from pipeline.store.writer import Sink
from pipeline.shuffle.wirecheck import read_by_trace
from pipeline.worker.ledger import AckLedger
from pipeline.worker.outbox import DeadLetters, Outbox
from pipeline.worker.progress import SpreadProgress, expected_sources
from pipeline.worker.state import WorkerState


def partition_of(event) -> int:
    return event.message.partition


class Correlation:
    """The engine, the by-trace messages it holds unacknowledged, and the partitions it owns."""

    def __init__(self, settings: Settings, sink: Sink | None, out: Outbox | None = None,
                 partitions: dict[str, int] | None = None, state: WorkerState | None = None) -> None:
        config = from_settings(settings)
        partitions = partitions or dict(settings.declared_topics())
        # The watermark waits for every input partition (counts as the broker has them).
        config.sources = expected_sources(partitions)
        self.engine = Correlator(config)
        self.sink = sink
        self.out = out
        self.letters = DeadLetters(out, sink) if out is not None else None
        self.state = state or WorkerState()
        self.me = uuid.uuid4().hex.encode()  # this process, to skip its own skew samples when read back
        # One lane per partition: traces complete independently of other partitions'.
        self.ledger: AckLedger = AckLedger(partition_of, lane_of=partition_of)
        self.lock = asyncio.Lock()
        self.offsets: dict[str, int] = {}  # last offsets written to clock_offsets
        self.ack: Callable[[object], Awaitable] | None = None  # the by-trace stream's, once it runs
        self.owned: set[int] = set()  # by-trace partitions assigned to this worker
        self.spread = SpreadProgress(partitions["telemetry.metrics"])
        self.skipped = 0  # messages read from partitions no longer assigned (their owner reads them)
        self.unreadable = 0  # internal-topic messages dead-lettered (pipeline/shuffle/wirecheck.py)
        # Seconds per stage, for the idle-stop event and benchmarks/correlate.py's profile: CPU
        # for wire decode, join and rows; wall for insert (awaited until stored).
        self.seconds = dict.fromkeys(("wire", "join", "rows", "insert"), 0.0)
        self._round: asyncio.Future | None = None  # the newest emit round still storing or acking

    def adopt(self, partition: int, assignment: set, topic: str) -> bool:
        """Own a partition the consumer has been assigned but whose assignment signal has not
        run yet: Faust resumes fetching from a separate task, so the first messages of a newly
        assigned partition can arrive before `reassign`; skipping them lost their traces."""
        if TopicPartition(topic, partition) not in assignment:
            return False
        self.owned.add(partition)
        return True

    async def reassign(self, partitions: set[int]) -> None:
        """Take a new by-trace assignment: forget what was read from partitions now lost."""
        async with self.lock:
            if self._round is not None:  # acks of rounds under way go out before the revoke
                await self._round
            lost = self.owned - partitions
            self.owned = set(partitions)
            if lost:
                self.engine.drop_partitions(lost)
                self.ledger.revoke(lost)

    async def take(self, events: list, assignment: set, topic: str) -> None:
        """One consumed batch of by-trace messages into the engine, each held until its traces
        are written."""
        seconds, clock = self.seconds, time.thread_time  # CPU of this thread, not the decode thread
        for event in events:
            partition = event.message.partition
            if partition not in self.owned and not self.adopt(partition, assignment, topic):
                self.skipped += 1
                continue  # fetched before a rebalance took the partition away: its owner reads it
            t0 = clock()
            try:
                spans, logs, progress = read_by_trace(event.message.value)
            except (ValueError, TypeError) as exc:  # WireError, orjson, a tombstone
                await self.dead_letter(event.message, f"unreadable by-trace message: {exc}")
                self.ledger.take([event], ())  # acknowledged once the DLQ has it
                continue
            t1 = clock()
            self.engine.add(spans, logs, partition=partition, progress=progress)
            t2 = clock()
            seconds["wire"] += t1 - t0
            seconds["join"] += t2 - t1
            traces = {s.trace_id for s in spans} | {r.trace_id for r in logs}
            self.ledger.take([event], traces)
            if traces:  # progress reports alone are not activity (they never stop coming)
                self.state.active()

    async def emit(self, final: bool = False, wait: bool = True) -> bool:
        """Write what the engine completed, then acknowledge what no longer owes rows.

        A round polls the engine at once and stores in the background: with `wait` False (the
        emitter's timer) the call returns as soon as the round is under way, so a slow insert
        no longer holds back the next poll (a trace completed meanwhile would wait a whole
        insert longer). Rounds finish in order: a round's messages are acknowledged only
        after its own rows and every earlier round's are stored, and its skew samples sent.
        `final` completes in-flight traces, a poll's worth at a time: True while some are left."""
        if self.ack is None:  # the by-trace agent has not started: nothing is held
            return False
        prev = self._round
        if prev is not None and prev.done() and not prev.cancelled() and prev.exception():
            raise prev.exception()  # a round that could not store stops the worker, as before
        async with self.lock:
            t0 = time.thread_time()
            engine = self.engine
            rows = engine.flush_columns(engine.config.poll_batch_records) if final else engine.poll_columns()
            self.seconds["rows"] += time.thread_time() - t0
            offsets = self.engine.current_offsets()
            changed = [(h, o, self.engine.watermark() or 0) for h, o in offsets.items()
                       if self.offsets.get(h) != o]
            self.offsets.update(offsets)
            samples = self.engine.skew.take_changed()
            ready = self.ledger.release(self.engine.is_pending)
            if not (rows or changed or samples or ready):
                if wait and prev is not None:
                    await prev
                return final and self.engine.unflushed()
            write = {"correlated_spans": rows, "clock_offsets": changed} if rows or changed else None
            self._round = asyncio.ensure_future(self._finish_round(prev, write, samples, ready))
        if wait:
            await self._round
        return final and self.engine.unflushed()

    async def _finish_round(self, prev: asyncio.Future | None, write: dict | None, samples: dict,
                            ready: list) -> None:
        """Store a round's rows (alongside earlier rounds' inserts), then, once every earlier
        round has finished, send its skew samples and acknowledge its messages."""
        if write is not None:
            t1 = time.perf_counter()
            await self.sink.write(write)
            self.seconds["insert"] += time.perf_counter() - t1
        if prev is not None:
            await prev
        if samples:
            await (await self.out.skew(value=encode_samples(samples), headers=[("telecorr.worker", self.me)]))
        for event in ready:
            await self.ack(event)

    async def dead_letter(self, msg, reason: str) -> None:
        self.unreadable += 1
        await self.letters.one(msg, reason)

    def take_metrics(self, rec) -> bool:
        """One record of the metrics topic: points for the join, or a progress report (sent
        to every partition: SpreadProgress). True when it carried data."""
        if dict(rec.headers or ()).get("telecorr.progress"):
            report = self.spread.note(rec.partition, read_progress(rec.value))
            for p in self.owned if report else ():
                self.engine.add(progress=report, partition=p)
            return False
        self.engine.add(metrics=read_metrics(rec.value))
        return True

    def take_skew_samples(self, rec) -> bool:
        """One record of the skew topic: a peer's pair sketches (our own are already merged)."""
        if dict(rec.headers or ()).get("telecorr.worker") != self.me:
            self.engine.skew.merge_samples(decode_samples(rec.value))
        return True
