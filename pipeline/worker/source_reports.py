"""Sending the source-progress reports (docs/architecture.md "Watermark"): every
SOURCE_REPORT_S, for each input partition this worker owns, how far it has got, to every
by-trace partition (or, for metric sources, to every metrics partition, behind their points)."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.config import Settings
from pipeline.ingest.stage import INPUT_KINDS
from pipeline.shuffle.route import by_trace_messages, progress_message
from pipeline.worker.outbox import Outbox, delivered
from pipeline.worker.progress import Report, SourceProgress, source_name

# How often each worker reports its input partitions' progress: the join's watermark can
# trail its slowest input by this much.
SOURCE_REPORT_S = 0.25


class SourceReporter:
    """Builds and sends the reports from the ingest agents' SourceProgress and the consumer's
    view of each partition (duck-typed: Faust's consumer in the app, a fake in tests)."""

    def __init__(self, settings: Settings, sources: dict[str, SourceProgress], out: Outbox,
                 partitions: dict[str, int], committed: Callable[[object, object], int | None]) -> None:
        self.sources = sources
        self.out = out
        self.by_trace_partitions = partitions["telemetry.by_trace"]
        self.metrics_partitions = partitions["telemetry.metrics"]
        self.committed = committed  # (consumer, tp) -> the group's commit as the consumer knows it
        self.logical_of = {settings.topic(logical): logical for logical in INPUT_KINDS}
        self.earliest: dict = {}  # each input partition's earliest offset, asked once per assignment

    def reassigned(self) -> None:
        self.earliest.clear()

    async def reports(self, consumer) -> dict[str, Report]:
        """Every owned input partition's report, by source name."""
        inputs = [tp for tp in consumer.assignment() if tp.topic in self.logical_of]
        if any(tp not in self.earliest for tp in inputs):
            try:
                self.earliest.update(await consumer.earliest_offsets(*inputs))
            except Exception:  # noqa: BLE001 - mid-rebalance: asked again next time
                pass
        out = {}
        for tp in inputs:
            logical = self.logical_of[tp.topic]
            try:
                end = consumer.highwater(tp)
                position = await consumer.position(tp)
            except Exception:  # noqa: BLE001 - mid-rebalance: no position yet, so "behind"
                end = position = None
            # Where this worker's agent began: the group's commit the consumer seeked to after
            # the assignment (0 and "none" look alike; the earliest offset covers both).
            start = max(self.committed(consumer, tp) or 0, self.earliest.get(tp, 0)) \
                if tp in self.earliest else None
            out[source_name(logical, tp.partition)] = self.sources[logical].report(tp.partition, end, position, start)
        return out

    async def send(self, consumer) -> None:
        """Metric sources report on the metrics topic, behind their points (the join reads that
        topic apart from the by-trace one); the others on every by-trace partition."""
        report = await self.reports(consumer)
        points = {s: r for s, r in report.items() if s.startswith("otlp_metrics/")}
        traced = {s: r for s, r in report.items() if s not in points}
        sends = [await self.out.by_trace(key=b"%d" % p, value=v, partition=p)
                 for p, v in (by_trace_messages([], [], self.by_trace_partitions, traced) if traced else [])]
        if points:
            value = progress_message(points)
            sends += [await self.out.metrics(value=value, partition=p, headers=[("telecorr.progress", b"1")])
                      for p in range(self.metrics_partitions)]
        await delivered(sends)
