"""Reading a topic whole, outside the consumer group: every worker needs all of the metrics
topic (any span may need any metric series) and all of the skew topic (skew tables need
every host pair)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.config import Settings
from pipeline.kafka.io import FETCH_MAX_WAIT_MS
from pipeline.worker.state import WorkerState


async def read_whole(settings: Settings, logical: str, handle: Callable[[object], bool],
                     dead_letter: Callable[[object, str], Awaitable[None]], state: WorkerState) -> None:
    """Read every partition of a topic from the beginning, for ever: `handle(record)` says
    whether the record carried data (activity); one it cannot read is dead-lettered, since
    every worker reads this topic from the start and a raising message would crash-loop all."""
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
                        await dead_letter(rec, f"unreadable {logical} message: {exc}")
            if active:  # data, not the progress reports that keep coming while idle
                state.active()
    finally:
        await consumer.stop()
