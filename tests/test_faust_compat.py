"""One test per Faust / mode / aiokafka internal agents/faust_compat.py relies on: each fails
when the installed library stops behaving as the patch assumes, so an upgrade is caught here
instead of by lost or slow records."""

from __future__ import annotations

import asyncio
import inspect
import uuid

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents import faust_compat
from pipeline.config import Settings
from pipeline.kafka.io import ensure_topics, publish


def test_the_installed_libraries_are_the_tested_versions():
    assert faust_compat.check_versions() is None, faust_compat.installed_versions()


def test_an_untested_version_stops_the_worker_naming_the_pins_unless_overridden():
    installed = dict(faust_compat.TESTED, aiokafka="0.99.0")
    with pytest.raises(faust_compat.UntestedLibraries) as exc:
        faust_compat.check_versions(installed, env={})
    text = str(exc.value)
    assert "aiokafka 0.99.0 (tested: 0.14.0)" in text
    assert "faust-streaming==0.15.3 aiokafka==0.14.0 mode-streaming==0.7.1" in text
    assert faust_compat.ALLOW_UNTESTED_ENV in text
    warning = faust_compat.check_versions(installed, env={faust_compat.ALLOW_UNTESTED_ENV: "1"})
    assert warning == text
    with pytest.raises(faust_compat.UntestedLibraries, match="mode-streaming missing"):
        faust_compat.check_versions(dict(faust_compat.TESTED, **{"mode-streaming": None}), env={})


def _app() -> faust.App:
    return faust.App("compat-" + uuid.uuid4().hex[:6], broker="kafka://127.0.0.1:9", web_enabled=False)


def test_faust_records_each_commit_it_seeks_to_and_the_wrapper_rewinds_the_rest():
    """`committed_offset` reads Faust's private `_committed_offset`, which its perform_seek
    fills from seek_to_committed; the seek-back wrapper must then rewind exactly the
    partitions with no commit (above 0) to the beginning."""
    consumer = _app().consumer
    done, never, zero = (TopicPartition("t", p) for p in range(3))
    seeks: list = []

    async def seek_to_committed():
        return {done: 7, never: None, zero: 0}

    async def seek_wait(offsets):
        seeks.append(offsets)
    consumer.seek_to_committed = seek_to_committed
    consumer.seek_wait = seek_wait
    consumer.assignment = lambda: {done, never, zero}
    faust_compat.seek_back_uncommitted_too(consumer)
    faust_compat.seek_back_uncommitted_too(consumer)  # idempotent: one wrapper
    asyncio.run(consumer.perform_seek())
    assert faust_compat.committed_offset(consumer, done) == 7
    assert not faust_compat.committed_offset(consumer, never) and not faust_compat.committed_offset(consumer, zero)
    assert seeks == [{never: 0, zero: 0}]


def test_faust_still_hard_codes_the_fetch_wait_the_patch_shortens():
    """Faust's driver builds its aiokafka consumer with a fixed 1.5 s fetch wait (the reason
    for set_fetch_wait; if it becomes a setting, use that instead) and reaches it through
    `_thread._ensure_consumer()` (the path set_fetch_wait takes)."""
    consumer = _app().consumer
    assert callable(consumer._thread._ensure_consumer)
    assert "fetch_max_wait_ms=1500" in inspect.getsource(type(consumer._thread)._create_worker_consumer)


def test_aiokafka_skips_uncommitted_partitions_on_seek_and_reads_the_fetch_wait_per_request(broker):
    """Against the real broker: (1) seek_to_committed leaves a partition the group never
    committed where it is (what the seek-back wrapper repairs); (2) the fetcher builds every
    fetch request from `_fetch_max_wait_ms`, so set_fetch_wait changes a running consumer."""
    prefix = "c" + uuid.uuid4().hex[:8] + "."
    settings = Settings(broker=broker, topic_prefix=prefix)
    publish(settings, [("otlp_logs", None, b"x%d" % i) for i in range(5)])
    name = settings.topic("otlp_logs")

    async def run() -> tuple[dict, int, list[int]]:
        await ensure_topics(broker, prefix, settings.declared_topics())
        consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id="g" + uuid.uuid4().hex[:6],
                                    enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=1500)
        await consumer.start()
        waits: list[int] = []
        try:
            parts = sorted(consumer.partitions_for_topic(name) or []) or [0]
            tps = [TopicPartition(name, p) for p in parts]
            consumer.assign(tps)
            got = 0
            for _ in range(40):
                got += sum(len(r) for r in (await consumer.getmany(timeout_ms=300)).values())
                if got >= 5:
                    break
            positions = sum([await consumer.position(tp) for tp in tps])
            committed = await consumer.seek_to_committed()
            after = sum([await consumer.position(tp) for tp in tps])
            assert after == positions == 5
            send = consumer._client.send

            async def spy(node_id, request, *args, **kwargs):
                if type(request).__name__ == "FetchRequest":
                    waits.append(vars(request)["_max_wait_ms"])
                return await send(node_id, request, *args, **kwargs)
            consumer._client.send = spy
            consumer._fetcher._fetch_max_wait_ms = 123  # what set_fetch_wait does on Faust's consumer
            for _ in range(10):  # a fetch already waiting (up to 1.5 s) goes out unchanged
                await consumer.getmany(timeout_ms=500)
                if 123 in waits:
                    break
            return committed, after, waits
        finally:
            await consumer.stop()
    committed, _after, waits = asyncio.run(run())
    assert all(v is None for v in committed.values()), committed
    assert waits and waits[-1] == 123, waits
