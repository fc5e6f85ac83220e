"""The correlation agent's declarations: the by-trace agent, the emitter timer, and the tasks
that read the metrics and skew topics whole. The work is pipeline/worker/correlation.py's."""

from __future__ import annotations

import faust

from pipeline.config import Settings
from pipeline.worker.read_whole import read_whole
from pipeline.worker.runtime import WorkerRuntime

# How often the engine is polled for completed traces: with the sink's flush interval, the
# largest fixed delay between a trace completing and its rows being queryable (a round's
# insert runs in the background, so a slow one does not stretch this).
EMIT_S = 0.2


def declare_correlation(app: faust.App, settings: Settings, runtime: WorkerRuntime) -> None:
    corr, state = runtime.corr, runtime.state
    topic = app.topic(settings.topic("telemetry.by_trace"), key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="telecorr.correlate")
    async def correlate(stream) -> None:
        corr.ack = stream.ack
        name = topic.get_topic_name()
        async for events in stream.noack_take(settings.consume_batch, within=settings.consume_within_s):
            await corr.take(events, app.consumer.assignment(), name)

    @app.timer(interval=EMIT_S)
    async def emitter() -> None:
        await corr.emit(wait=False)

    @app.task
    async def read_all_metrics() -> None:
        await read_whole(settings, "telemetry.metrics", corr.take_metrics, corr.dead_letter, state)

    @app.task
    async def read_all_skew_samples() -> None:
        await read_whole(settings, "telemetry.skew", corr.take_skew_samples, corr.dead_letter, state)
