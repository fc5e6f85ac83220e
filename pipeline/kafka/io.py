"""Plain aiokafka helpers shared by the CLI, the agents and the tests: readiness, topic
creation from the declarative list, and batched publishing.

Kept Faust-free so `replay`, `simulate --kafka` and the broker scripts work without a worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from pipeline.config import Settings

# One produce request carries at most this many bytes; also the broker-side message limit we assume.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
# How long a consumer's fetch may wait for data. The local broker answers a waiting fetch only
# when that wait runs out, not when data arrives (tests/test_broker_facts.py), so aiokafka's
# 500 ms default, and Faust's fixed 1500 ms, delay every live record by that much per hop; a
# real Kafka answers early either way, so a short wait only costs idle polls.
FETCH_MAX_WAIT_MS = 100


class BrokerUnavailable(RuntimeError):
    """The broker did not answer in time; the message says where we looked."""


class TopicMismatch(RuntimeError):
    """A topic on the broker has another partition count than telecorr declares for it.

    Routing by trace and the join's watermark both depend on the counts, so a worker must not
    start on a guess; the message names each topic, both counts and the way out."""


async def wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Poll the broker's metadata until it answers, so callers fail with one clear message."""
    # aiokafka logs every refused connection; while we are only probing, our own message is enough.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            logging.getLogger("aiokafka").setLevel(logging.NOTSET)
            return
        except (KafkaError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise BrokerUnavailable(f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f}s ({last})")


async def ensure_topics(bootstrap: str, prefix: str, topics: list[tuple[str, int]]) -> list[str]:
    """Create every missing topic of the declarative list; returns the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(prefix + name, num_partitions=parts, replication_factor=1)
                   for name, parts in topics if prefix + name not in existing]
        created = []
        for topic in missing:
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        await admin.close()


async def broker_partitions(bootstrap: str, prefix: str, topics: list[tuple[str, int]]) -> dict[str, int]:
    """Partition count per logical topic as the broker reports it (what routing must use)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        described = await admin.describe_topics([prefix + name for name, _ in topics])
    finally:
        await admin.close()
    counts = {d["topic"]: len(d.get("partitions") or []) for d in described if not d.get("error_code")}
    return {name: counts.get(prefix + name, 0) for name, _ in topics}


def check_partitions(prefix: str, declared: list[tuple[str, int]], actual: dict[str, int]) -> dict[str, int]:
    """`actual` when every topic has its declared count, else TopicMismatch naming them all."""
    wrong = [(name, want, actual.get(name, 0)) for name, want in declared if actual.get(name, 0) != want]
    if wrong:
        listed = "; ".join(f"{prefix}{name}: {have or 'missing'} on the broker, {want} declared"
                           for name, want, have in wrong)
        raise TopicMismatch(f"topic partition counts differ from telecorr's list ({listed}). Declare the broker's "
                            "counts with the topic_partitions setting (e.g. TELECORR_TOPIC_PARTITIONS="
                            "'telemetry.by_trace=8'), or recreate the topics")
    return dict(actual)


async def prepare_topics(settings: Settings) -> dict[str, int]:
    """Create the missing topics, then read every count back from the broker and check it."""
    declared = settings.declared_topics()
    await ensure_topics(settings.broker, settings.topic_prefix, declared)
    actual = await broker_partitions(settings.broker, settings.topic_prefix, declared)
    return check_partitions(settings.topic_prefix, declared, actual)


async def publish_async(settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> dict[str, int]:
    """Send (logical topic, key, value) messages; returns messages sent per logical topic.

    Sends are pipelined and awaited in chunks so memory stays flat for long streams, and
    nothing is reported as sent before the broker acknowledged it.
    """
    await wait_for_broker(settings.broker)
    await ensure_topics(settings.broker, settings.topic_prefix, settings.declared_topics())
    counts: dict[str, int] = {}
    # Bulk telemetry: batched, leader acks, requests up to the message size we assume.
    prod = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=5, max_batch_size=1024 * 1024,
                            max_request_size=MAX_REQUEST_BYTES, acks=1, request_timeout_ms=30000)
    await prod.start()
    try:
        pending: list[asyncio.Future] = []
        for logical, key, value in messages:
            pending.append(await prod.send(settings.topic(logical), value=value, key=key))
            counts[logical] = counts.get(logical, 0) + 1
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        if pending:
            await asyncio.gather(*pending)
    finally:
        await prod.stop()
    return counts


def publish(settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> dict[str, int]:
    """Blocking wrapper of publish_async for command-line use."""
    return asyncio.run(publish_async(settings, messages))


def ensure_topics_blocking(settings: Settings, wait_s: float = 30.0) -> dict[str, int]:
    """Wait for the broker, create the missing topics and return each one's partition count as
    the broker has it: what `worker` does first (TopicMismatch when a count differs)."""
    async def run() -> dict[str, int]:
        await wait_for_broker(settings.broker, wait_s)
        return await prepare_topics(settings)
    try:
        return asyncio.run(run())
    except KafkaConnectionError as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {settings.broker}: {exc}") from exc


async def read_topic(broker: str, topic: str, idle_s: float = 3.0) -> list:
    """Every record of `topic` from the beginning, outside any group, until it has been quiet
    for `idle_s` (tests and benchmarks read the DLQ with this)."""
    cons = AIOKafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest", group_id=None,
                            max_partition_fetch_bytes=2 * MAX_REQUEST_BYTES)
    await cons.start()
    try:
        got, quiet = [], time.monotonic()
        while time.monotonic() - quiet < idle_s:
            for recs in (await cons.getmany(timeout_ms=500)).values():
                got += recs
                quiet = time.monotonic()
        return got
    finally:
        await cons.stop()
