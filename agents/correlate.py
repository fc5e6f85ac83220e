"""Wiring of the correlation engine: the by-trace agent, the all-partitions metrics reader and
the emitter that writes completed traces.

A by-trace message is acknowledged only once none of the traces it carried still owes rows
and those rows are in ClickHouse, so committed offsets never pass a record whose effect is
not stored; after a crash the in-flight traces are rebuilt by replaying from there.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.config import Settings
from pipeline.correlate import Correlator, from_settings
from pipeline.route import read_by_trace, read_metrics
from pipeline.store.writer import Sink


@dataclass(slots=True)
class _Held:
    event: object
    traces: set[str]


class Correlation:
    """The engine plus the acknowledgements it holds back."""

    def __init__(self, settings: Settings, sink: Sink) -> None:
        self.engine = Correlator(from_settings(settings))
        self.sink = sink
        self.held: list[_Held] = []
        self.lock = asyncio.Lock()
        self.offsets: dict[str, int] = {}  # last offsets written to clock_offsets
        self.streams: list = []  # the by-trace agent's stream, once it runs (acks go through it)

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
            still = []
            for held in self.held:
                held.traces = {t for t in held.traces if self.engine.is_pending(t)}
                if held.traces:
                    still.append(held)
                else:
                    await stream.ack(held.event)
            self.held = still


def wire(app: faust.App, settings: Settings, sink: Sink, state) -> Correlation:
    corr = Correlation(settings, sink)
    topic = app.topic(settings.topic("telemetry.by_trace"), key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="telecorr.correlate")
    async def correlate(stream):
        corr.streams.append(stream)
        async for events in stream.noack_take(settings.consume_batch, within=settings.consume_within_s):
            for event in events:
                spans, logs = read_by_trace(event.message.value)
                corr.engine.add(spans, logs, partition=event.message.partition)
                traces = {s.trace_id for s in spans} | {r.trace_id for r in logs}
                corr.held.append(_Held(event, traces))
            state.last_activity = time.monotonic()

    @app.timer(interval=0.5)
    async def emitter() -> None:
        await corr.emit()

    @app.task
    async def read_all_metrics() -> None:
        """Every worker reads every metrics partition (no group): any span may need any series."""
        name = settings.topic("telemetry.metrics")
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        try:
            await consumer.topics()  # fetch cluster metadata, so the partitions are known
            parts = consumer.partitions_for_topic(name) or set()
            consumer.assign([TopicPartition(name, p) for p in sorted(parts)])
            await consumer.seek_to_beginning()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batch.values():
                    for rec in records:
                        corr.engine.add(metrics=read_metrics(rec.value))
                if batch:
                    state.last_activity = time.monotonic()
        finally:
            await consumer.stop()

    return corr
