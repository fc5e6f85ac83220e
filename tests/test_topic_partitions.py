"""Partition counts come from the broker: topics are created from the packaged list (with
`topic_partitions` applied) when missing, read back, and a count that differs from the declared
one stops the worker with a message naming it. Against the real local broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline.config import Settings, SettingsError, read_topics
from pipeline.kafka.io import TopicMismatch, ensure_topics_blocking


def _create(broker: str, name: str, partitions: int) -> None:
    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            await admin.close()
    asyncio.run(go())


def test_counts_are_created_from_the_list_and_read_back(broker, topic_prefix):
    counts = ensure_topics_blocking(Settings(broker=broker, topic_prefix=topic_prefix))
    assert counts == dict(read_topics())
    # Declared otherwise for a fresh prefix: created that way, and what routing is given.
    other = "o" + topic_prefix
    counts = ensure_topics_blocking(Settings(broker=broker, topic_prefix=other,
                                             topic_partitions="telemetry.by_trace=6, otlp_spans=3"))
    assert counts["telemetry.by_trace"] == 6 and counts["otlp_spans"] == 3 and counts["otlp_logs"] == 4


def test_a_count_that_differs_from_the_declared_one_is_a_clear_error(broker, topic_prefix):
    _create(broker, topic_prefix + "telemetry.by_trace", 2)  # made by hand, before telecorr ran
    with pytest.raises(TopicMismatch) as info:
        ensure_topics_blocking(Settings(broker=broker, topic_prefix=topic_prefix))
    text = str(info.value)
    assert f"{topic_prefix}telemetry.by_trace: 2 on the broker, 4 declared" in text and "topic_partitions" in text
    # Declaring the broker's count is the way out.
    counts = ensure_topics_blocking(Settings(broker=broker, topic_prefix=topic_prefix,
                                             topic_partitions="telemetry.by_trace=2"))
    assert counts["telemetry.by_trace"] == 2


def test_worker_refuses_to_start_on_a_mismatch(broker, topic_prefix, tmp_path):
    _create(broker, topic_prefix + "telemetry.metrics", 1)
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "--broker", broker, "--topic-prefix", topic_prefix,
                          "--clickhouse", f"chdb://{tmp_path / 'db'}", "worker"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 1 and "telemetry.metrics: 1 on the broker, 4 declared" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("value", ["nosuch=4", "otlp_spans=0", "otlp_spans=x", "otlp_spans"])
def test_bad_topic_partitions_name_the_setting(value):
    with pytest.raises(SettingsError, match="topic_partitions"):
        Settings(topic_partitions=value).declared_topics()
