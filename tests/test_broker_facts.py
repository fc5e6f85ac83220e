"""The local broker's known quirks (DESIGN.md "Local broker"), pinned so we notice if they change.

If one of these starts failing, Tansu's behaviour moved: re-read DESIGN.md and revisit the
workaround it documents (e.g. changelog recovery, transactions) before deleting the test.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.integration


def run(coro):
    return asyncio.run(coro)


def test_end_offsets_are_wrong_for_multi_record_batches(broker, topic_prefix):
    topic = topic_prefix + "quirk"

    async def go():
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 1, 1)])
        await admin.close()
        prod = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=50)
        await prod.start()
        futs = [await prod.send(topic, b"x%d" % i) for i in range(10)]  # one batch of 10 records
        await asyncio.gather(*futs)
        await prod.stop()
        cons = AIOKafkaConsumer(bootstrap_servers=broker, auto_offset_reset="earliest")
        await cons.start()
        tp = TopicPartition(topic, 0)
        end = (await cons.end_offsets([tp]))[tp]
        cons.assign([tp])
        got = 0
        while got < 10:
            batch = await cons.getmany(tp, timeout_ms=2000)
            if not batch:
                break
            got += sum(len(v) for v in batch.values())
        await cons.stop()
        return end, got

    end, got = run(go())
    assert got == 10, "all ten records must be readable"
    assert end != 10, "end_offsets() is now right for batches: changelog recovery may work again (DESIGN.md)"


def test_transactional_producer_is_not_supported(broker):
    async def go():
        prod = AIOKafkaProducer(bootstrap_servers=broker, transactional_id="telecorr-quirk-test",
                                request_timeout_ms=5000)
        try:
            await asyncio.wait_for(prod.start(), 15)
            await asyncio.wait_for(prod.begin_transaction(), 5)
            return True
        except Exception:  # noqa: BLE001 - any refusal is the quirk we pin
            return False
        finally:
            await prod.stop()

    assert run(go()) is False, "transactions now work: processing_guarantee='exactly_once' may be possible"


def test_create_partitions_is_not_supported(broker, topic_prefix):
    topic = topic_prefix + "grow"

    async def go():
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 1, 1)])
            try:
                await admin.create_partitions({topic: NewPartitions(total_count=2)})
            except Exception:  # noqa: BLE001
                return False
            meta = await admin.describe_topics([topic])
            return len(meta[0]["partitions"]) == 2
        finally:
            await admin.close()

    assert run(go()) is False, "create_partitions now works: topics could be grown in place"


def test_a_waiting_fetch_is_answered_only_when_its_wait_runs_out(broker, topic_prefix):
    """Kafka answers a waiting fetch as soon as data arrives; the local broker waits out
    fetch_max_wait_ms. Faust's consumer asks for 1500 ms, so the worker shortens it
    (pipeline/kafka/io.py FETCH_MAX_WAIT_MS); if this starts failing, that workaround is moot."""
    topic = topic_prefix + "longpoll"

    async def latencies(wait_ms: int) -> list[float]:
        prod = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=0)
        cons = AIOKafkaConsumer(bootstrap_servers=broker, fetch_max_wait_ms=wait_ms)
        await prod.start()
        await cons.start()
        try:
            tp = TopicPartition(topic, 0)
            cons.assign([tp])
            await cons.seek_to_end(tp)
            out = []
            for _ in range(3):
                await asyncio.sleep(0.3)  # a fetch is waiting on the broker now
                t0 = time.monotonic()
                await (await prod.send(topic, b"x"))
                while not await cons.getmany(tp, timeout_ms=5000):
                    pass
                out.append(time.monotonic() - t0)
            return out
        finally:
            await cons.stop()
            await prod.stop()

    async def go():
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 1, 1)])
        await admin.close()
        return await latencies(1500), await latencies(100)

    slow, quick = run(go())
    assert min(slow) > 0.2, ("a waiting fetch is now answered when data arrives", slow)
    assert max(quick) < 0.2, quick


def test_memory_only_restart_loses_topics(tmp_path):
    port = free_port()
    env = dict(os.environ, KAFKA_PORT=str(port), TELECORR_STATE_DIR=str(tmp_path), PYTHON=sys.executable,
               TELECORR_TOPIC_PREFIX="m.")
    up, down = [str(REPO / f"deploy/kafka/{s}.sh") for s in ("up", "down")]

    async def topics():
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    try:
        subprocess.run(["bash", up], env=env, check=True, capture_output=True)
        assert "m.otlp_spans" in run(topics())
        second = subprocess.run(["bash", up], env=env, check=True, capture_output=True, text=True)
        assert "already running" in second.stdout  # up.sh is idempotent
        subprocess.run(["bash", down], env=env, check=True, capture_output=True)
        env_plain = dict(env, TELECORR_TOPIC_PREFIX="other.")
        subprocess.run(["bash", up], env=env_plain, check=True, capture_output=True)
        assert "m.otlp_spans" not in run(topics()), "the broker now keeps data across restarts"
    finally:
        subprocess.run(["bash", down], env=env, check=False, capture_output=True)
    again = subprocess.run(["bash", down], env=env, check=True, capture_output=True, text=True)
    assert "no broker" in again.stdout  # down.sh is idempotent too
