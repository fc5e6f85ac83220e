"""The Faust app: one ingest agent per input topic, the correlation agent, the timers.

Declarations only: the work, and every rule about what may be acknowledged when, lives in
pipeline/worker/ (docs/architecture.md). Each ingest agent takes a batch without
acknowledging it and hands it to its IngestAgent, which acknowledges only once ClickHouse has
the batch's rows and the join has its re-keyed records, in consumption order.
"""

from __future__ import annotations

import faust

from agents import faust_compat
from agents.correlate import declare_correlation
from pipeline.config import Settings
from pipeline.ingest.stage import INPUT_KINDS
from pipeline.kafka.io import FETCH_MAX_WAIT_MS
from pipeline.worker.selfmetrics import WorkerMetrics
from pipeline.store.writer import Sink
from pipeline.worker.ingest_batches import IngestAgent
from pipeline.worker.outbox import Outbox
from pipeline.worker.runtime import WorkerRuntime, tune_gc
from pipeline.worker.source_reports import SOURCE_REPORT_S
from pipeline.worker.state import emit


def make_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.group_id,
        broker=f"kafka://{settings.broker}",
        processing_guarantee="at_least_once",  # the local broker has no transactions
        store="memory://",
        web_enabled=False,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(settings.session_timeout_s / 3, 0.5),
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,  # topics come from the packaged list (pipeline/topics.txt)
        topic_disable_leader=True,
        consumer_max_fetch_size=8 * 1024 * 1024,
        producer_max_request_size=8 * 1024 * 1024,
        stream_wait_empty=False,
    )


def raw_topic(app: faust.App, settings: Settings, logical: str) -> faust.TopicT:
    return app.topic(settings.topic(logical), key_serializer="raw", value_serializer="raw")


def declare_ingest(app: faust.App, topic: faust.TopicT, agent: IngestAgent) -> None:
    async def ingest(stream) -> None:
        async for taken in stream.noack_take(agent.batch_size, within=agent.within_s):
            await agent.take_all(taken, stream.ack)
    ingest.__name__ = f"ingest_{agent.logical.replace('.', '_')}"
    app.agent(topic, name=f"telecorr.ingest.{agent.logical}")(ingest)


def declare_timers(app: faust.App, settings: Settings, runtime: WorkerRuntime, stop_when_idle_s: float | None) -> None:
    @app.timer(interval=SOURCE_REPORT_S)
    async def report_sources() -> None:
        await runtime.report_sources(app.consumer)

    @app.timer(interval=settings.progress_s)
    async def progress() -> None:
        await runtime.observe(app.consumer)

    if stop_when_idle_s is not None:
        @app.timer(interval=0.5)
        async def stop_when_idle() -> None:
            await runtime.stop_if_idle(app.consumer, stop_when_idle_s)


def create_app(settings: Settings, sink: Sink, stop_when_idle_s: float | None = None,
               metrics: WorkerMetrics | None = None, partitions: dict[str, int] | None = None) -> faust.App:
    """The worker's app; `partitions` are the topics' partition counts as the broker reports
    them (pipeline/kafka/io.py prepare_topics), the declared list when not given."""
    app = make_app(settings)
    out = Outbox(*(raw_topic(app, settings, t).send for t in
                   ("telemetry.dlq", "telemetry.by_trace", "telemetry.metrics", "telemetry.skew")))
    runtime = WorkerRuntime(settings, sink, out, partitions or dict(settings.declared_topics()), app.crash,
                            faust_compat.committed_offset, metrics)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender, assigned, **_kwargs) -> None:
        warning = faust_compat.after_assignment(app.consumer, FETCH_MAX_WAIT_MS)
        if warning:
            emit("warning", msg=warning)
        await runtime.assigned(set(assigned))

    for logical in INPUT_KINDS:
        declare_ingest(app, raw_topic(app, settings, logical), runtime.ingest[logical])
    declare_correlation(app, settings, runtime)
    declare_timers(app, settings, runtime, stop_when_idle_s)
    tune_gc()
    return app
