"""The watermark protocol (pipeline/worker/progress.py, pipeline/worker/source_reports.py),
driven by a fake consumer: what each owned input partition reports, and how the reports
hold back one by-trace partition's watermark."""

from __future__ import annotations

import asyncio

import orjson

from pipeline.config import Settings
from pipeline.worker.outbox import Outbox
from pipeline.worker.progress import SourceProgress, WatermarkCaps
from pipeline.worker.source_reports import SourceReporter

GAP = 10
SOURCES = ("otlp_spans/0", "otlp_logs/0")


def test_nothing_moves_until_every_expected_source_has_reported():
    caps = WatermarkCaps(SOURCES, GAP)
    caps.unheard(0)
    assert caps.watermark({0: 1000}) is None
    caps.note(0, {"otlp_spans/0": (900, False)})
    assert caps.watermark({0: 1000}) is None  # otlp_logs/0 not heard from yet
    caps.note(0, {"otlp_logs/0": (None, False)})  # an idle source, caught up: holds nothing
    assert caps.watermark({0: 1000}) == 1000


def test_a_behind_source_caps_the_watermark_one_gap_past_its_progress():
    caps = WatermarkCaps(SOURCES, GAP)
    caps.note(0, {"otlp_spans/0": (500, True), "otlp_logs/0": (900, False)})
    assert caps.watermark({0: 1000}) == 510
    caps.note(0, {"otlp_spans/0": (2000, False), "otlp_logs/0": (990, False)})
    assert caps.watermark({0: 1000}) == 1000
    caps.note(1, {"otlp_spans/0": (2000, False), "otlp_logs/0": (None, True)})
    assert caps.watermark({1: 1000}) is None  # behind with nothing forwarded yet: holds everything


def test_progress_never_goes_back_when_a_restarted_source_replays():
    caps = WatermarkCaps(SOURCES, GAP)
    caps.note(0, {"otlp_spans/0": (800, True), "otlp_logs/0": (900, False)})
    caps.note(0, {"otlp_spans/0": (None, True)})  # a successor replaying from the commit
    assert caps.watermark({0: 1000}) == 810


def test_partitions_are_capped_apart_and_a_lost_one_is_forgotten():
    caps = WatermarkCaps(SOURCES, GAP)
    caps.note(0, {"otlp_spans/0": (100, True), "otlp_logs/0": (900, False)})
    caps.note(1, {"otlp_spans/0": (900, False), "otlp_logs/0": (900, False)})
    assert caps.watermark({0: 1000, 1: 2000}) == 110
    caps.forget({0})
    assert caps.watermark({1: 2000}) == 2000


class FakeConsumer:
    """What SourceReporter reads from Faust's consumer."""

    def __init__(self, topics: dict[tuple[str, int], tuple[int, int, int]]) -> None:
        self.parts = topics  # (topic, partition) -> (earliest, position, end)
        self.commits: dict = {}

    def assignment(self) -> set:
        return {_TP(t, p) for t, p in self.parts}

    async def earliest_offsets(self, *tps) -> dict:
        return {tp: self.parts[(tp.topic, tp.partition)][0] for tp in tps}

    def highwater(self, tp) -> int:
        return self.parts[(tp.topic, tp.partition)][2]

    async def position(self, tp) -> int:
        return self.parts[(tp.topic, tp.partition)][1]


class _TP(tuple):
    def __new__(cls, topic: str, partition: int):
        return super().__new__(cls, (topic, partition))

    topic = property(lambda self: self[0])
    partition = property(lambda self: self[1])


def _reporter(consumer: FakeConsumer, sent: list) -> tuple[SourceReporter, dict[str, SourceProgress]]:
    async def send(**kw):
        sent.append(kw)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done
    settings = Settings()
    sources = {k: SourceProgress(k) for k in ("otlp_spans", "otlp_logs", "otlp_metrics",
                                              "telemetry.events", "telemetry.raw_logs")}
    partitions = dict(settings.declared_topics())
    return SourceReporter(settings, sources, Outbox(send, send, send, send), partitions,
                          lambda c, tp: c.commits.get(tp)), sources


def test_an_idle_partition_reports_caught_up_and_a_backlog_reports_behind():
    consumer = FakeConsumer({("otlp_spans", 0): (0, 0, 0), ("otlp_logs", 0): (0, 0, 40)})
    reporter, sources = _reporter(consumer, [])
    got = asyncio.run(reporter.reports(consumer))
    assert got == {"otlp_spans/0": (None, False), "otlp_logs/0": (None, True)}
    sources["otlp_logs"].taken(0, 39)
    sources["otlp_logs"].forwarded(0, 39, 777)
    consumer.parts[("otlp_logs", 0)] = (0, 40, 40)
    assert asyncio.run(reporter.reports(consumer))["otlp_logs/0"] == (777, False)


def test_a_restarted_worker_is_behind_until_it_takes_from_where_the_group_committed():
    # The successor fetched the whole backlog (position at the end) before its first batch:
    # it is behind, because nothing was taken since the group's commit at 25.
    consumer = FakeConsumer({("otlp_spans", 0): (0, 60, 60)})
    reporter, sources = _reporter(consumer, [])
    consumer.commits[_TP("otlp_spans", 0)] = 25
    assert asyncio.run(reporter.reports(consumer))["otlp_spans/0"] == (None, True)
    sources["otlp_spans"].taken(0, 59)
    sources["otlp_spans"].forwarded(0, 59, 5000)
    assert asyncio.run(reporter.reports(consumer))["otlp_spans/0"] == (5000, False)


def test_reports_go_to_every_by_trace_partition_and_metric_sources_to_every_metrics_partition():
    consumer = FakeConsumer({("otlp_spans", 0): (0, 0, 0), ("otlp_metrics", 0): (0, 0, 0)})
    sent: list = []
    reporter, _ = _reporter(consumer, sent)
    asyncio.run(reporter.send(consumer))
    partitions = dict(Settings().declared_topics())
    traced = [m for m in sent if orjson.loads(m["value"]).get("progress") if isinstance(orjson.loads(m["value"]), dict)]
    points = [m for m in sent if ("telecorr.progress", b"1") in (m.get("headers") or [])]
    assert sorted(m["partition"] for m in traced) == list(range(partitions["telemetry.by_trace"]))
    assert all(orjson.loads(m["value"])["progress"] == {"otlp_spans/0": [None, False]} for m in traced)
    assert sorted(m["partition"] for m in points) == list(range(partitions["telemetry.metrics"]))
    assert all(orjson.loads(m["value"]) == {"otlp_metrics/0": [None, False]} for m in points)
