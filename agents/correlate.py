"""Wiring of the correlation engine: the by-trace agent, the all-partitions metrics reader and
the emitter that writes completed traces.

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
from dataclasses import dataclass

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.config import Settings
from pipeline.correlate import Correlator, from_settings
from pipeline.correlate.skew_share import decode_samples, encode_samples
from pipeline.deadletter import dlq_message
from pipeline.kafka_io import FETCH_MAX_WAIT_MS
from pipeline.progress import SpreadProgress, expected_sources
from pipeline.route import read_by_trace, read_metrics, read_progress
from pipeline.store.writer import Sink


# How often completed traces are written: with the sink's flush interval, the largest fixed
# delay between a trace completing and its rows being queryable.
EMIT_S = 0.2


@dataclass(slots=True)
class _Held:
    event: object
    traces: set[str]


class Correlation:
    """The engine plus the acknowledgements it holds back."""

    def __init__(self, settings: Settings, sink: Sink, share_samples: Callable[[bytes], Awaitable[None]],
                 partitions: dict[str, int] | None = None) -> None:
        config = from_settings(settings)
        # The watermark waits for every input partition (counts as the broker has them).
        config.sources = expected_sources(partitions or dict(settings.declared_topics()))
        self.engine = Correlator(config)
        self.share_samples = share_samples  # publishes skew sketches to the other workers
        self.sink = sink
        self.held: list[_Held] = []
        self.lock = asyncio.Lock()
        self.offsets: dict[str, int] = {}  # last offsets written to clock_offsets
        self.streams: list = []  # the by-trace agent's stream, once it runs (acks go through it)
        self.owned: set[int] = set()  # by-trace partitions assigned to this worker
        self.skipped = 0  # messages read from partitions no longer assigned (their owner reads them)
        self.unreadable = 0  # internal-topic messages dead-lettered (pipeline/wirecheck.py)

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
            lost = self.owned - partitions
            self.owned = set(partitions)
            if lost:
                self.engine.drop_partitions(lost)
                self.held = [h for h in self.held if h.event.message.partition not in lost]

    async def emit(self, final: bool = False) -> None:
        """Write what the engine completed, then acknowledge what no longer owes rows."""
        if not self.streams:  # the by-trace agent has not started: nothing is held
            return
        stream = self.streams[0]
        async with self.lock:
            rows = self.engine.flush_all() if final else self.engine.poll()
            offsets = self.engine.current_offsets()
            changed = [(h, o, self.engine.watermark() or 0) for h, o in offsets.items()
                       if self.offsets.get(h) != o]
            if rows or changed:
                await self.sink.write({"correlated_spans": rows, "clock_offsets": changed})
                self.offsets.update(offsets)
            samples = self.engine.skew.take_changed()
            if samples:
                await self.share_samples(encode_samples(samples))
            # Acknowledge, per partition, only the oldest messages up to the first one still
            # owed rows: Faust commits past a gap at the head of its acked offsets when nothing
            # has been committed yet, so an out-of-order ack could skip a pending message.
            # Behind the first pending message of a partition nothing is acked, so nothing
            # there needs checking either (the held list can be long in a backlog).
            still, blocked = [], set()
            for held in self.held:
                partition = held.event.message.partition
                if partition in blocked:
                    still.append(held)
                    continue
                if held.traces:
                    held.traces = {t for t in held.traces if self.engine.is_pending(t)}
                if held.traces:
                    blocked.add(partition)
                    still.append(held)
                else:
                    await stream.ack(held.event)
            self.held = still


def wire(app: faust.App, settings: Settings, sink: Sink, state, partitions: dict[str, int]) -> Correlation:
    me = uuid.uuid4().hex.encode()  # this process, to skip its own skew messages when read back
    skew_topic = app.topic(settings.topic("telemetry.skew"), key_serializer="raw", value_serializer="raw")

    async def share_samples(value: bytes) -> None:
        await (await skew_topic.send(value=value, headers=[("telecorr.worker", me)]))

    corr = Correlation(settings, sink, share_samples, partitions)
    topic = app.topic(settings.topic("telemetry.by_trace"), key_serializer="raw", value_serializer="raw")

    dlq = app.topic(settings.topic("telemetry.dlq"), key_serializer="raw", value_serializer="raw")

    async def dead_letter(msg, reason: str) -> None:
        """An internal-topic message the engine cannot read (a bug or a foreign producer): to
        the DLQ with its reason, like undecodable input, instead of stopping the agent."""
        corr.unreadable += 1
        value, headers, row = dlq_message(msg.topic, msg.partition, msg.offset, msg.value, reason)
        await (await dlq.send(key=msg.topic.encode(), value=value, headers=headers))
        await sink.write({"dlq": [row]})

    @app.agent(topic, name="telecorr.correlate")
    async def correlate(stream):
        corr.streams.append(stream)
        name = topic.get_topic_name()
        async for events in stream.noack_take(settings.consume_batch, within=settings.consume_within_s):
            for event in events:
                if event.message.partition not in corr.owned and not corr.adopt(
                        event.message.partition, app.consumer.assignment(), name):
                    corr.skipped += 1
                    continue  # fetched before a rebalance took the partition away: its owner reads it
                try:
                    spans, logs, progress = read_by_trace(event.message.value)
                except (ValueError, TypeError) as exc:  # WireError, orjson, a tombstone
                    await dead_letter(event.message, f"unreadable by-trace message: {exc}")
                    corr.held.append(_Held(event, set()))  # acknowledged once the DLQ has it
                    continue
                corr.engine.add(spans, logs, partition=event.message.partition, progress=progress)
                traces = {s.trace_id for s in spans} | {r.trace_id for r in logs}
                corr.held.append(_Held(event, traces))
                if traces:  # progress reports alone are not activity (they never stop coming)
                    state.last_activity = time.monotonic()

    @app.on_partitions_assigned.connect
    async def on_assigned(sender, assigned, **_kwargs) -> None:
        await corr.reassign({tp.partition for tp in assigned if tp.topic == topic.get_topic_name()})

    @app.timer(interval=EMIT_S)
    async def emitter() -> None:
        await corr.emit()

    async def read_all(logical: str, handle: Callable[..., bool]) -> None:
        """Read every partition of a topic from the beginning, outside the group: every worker
        needs all of it (any span may need any metric series; skew tables need every pair)."""
        name = settings.topic(logical)
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                                    max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        try:
            await consumer.topics()  # fetch cluster metadata, so the partitions are known
            parts = consumer.partitions_for_topic(name) or set()
            consumer.assign([TopicPartition(name, p) for p in sorted(parts)])
            await consumer.seek_to_beginning()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                active = False
                for records in batch.values():
                    for rec in records:
                        try:
                            active |= handle(rec)
                        except (ValueError, TypeError) as exc:  # WireError, orjson, a tombstone
                            # Every worker reads this topic from the start: a message that
                            # raised here would crash-loop all of them.
                            await dead_letter(rec, f"unreadable {logical} message: {exc}")
                if active:  # data, not the progress reports that keep coming while idle
                    state.last_activity = time.monotonic()
        finally:
            await consumer.stop()

    def merge_peer_samples(rec) -> bool:
        if dict(rec.headers or ()).get("telecorr.worker") != me:
            corr.engine.skew.merge_samples(decode_samples(rec.value))
        return True

    spread = SpreadProgress(partitions["telemetry.metrics"])

    def take_metrics(rec) -> bool:
        if dict(rec.headers or ()).get("telecorr.progress"):
            report = spread.note(rec.partition, read_progress(rec.value))
            for p in corr.owned if report else ():
                corr.engine.add(progress=report, partition=p)
            return False
        corr.engine.add(metrics=read_metrics(rec.value))
        return True

    @app.task
    async def read_all_metrics() -> None:
        await read_all("telemetry.metrics", take_metrics)

    @app.task
    async def read_all_skew_samples() -> None:
        await read_all("telemetry.skew", merge_peer_samples)

    return corr
