"""The Faust app: one ingest agent per input topic, a dead-letter topic, an idle stopper.

Thin wiring only: every agent takes a batch of messages without acknowledging them, hands the
values to pipeline.ingest, sends undecodable input to the DLQ, waits until the Sink has
written the batch's rows, and only then acknowledges — so committed offsets never run ahead of
what ClickHouse holds (DESIGN.md "Delivery").
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import faust
import orjson

from agents.correlate import wire
from pipeline.config import Settings
from pipeline.deadletter import dlq_message, per_message
from pipeline.decode.limits import split_batch
from pipeline.ingest import INPUT_KINDS, Ingestor
from pipeline.kafka_io import FETCH_MAX_WAIT_MS
from pipeline.progress import JOIN_INPUTS, SourceProgress, newest_time, source_name
from pipeline.redact import redact
from pipeline.route import by_trace_messages, metric_messages, progress_message
from pipeline.selfmetrics import WorkerMetrics
from pipeline.store.writer import Sink

# How often each worker reports its input partitions' progress (pipeline/progress.py): the
# join's watermark can trail its slowest input by this much.
SOURCE_REPORT_S = 0.25


class WorkerState:
    """What the worker has done, for --stop-when-idle, status output and tests."""

    def __init__(self) -> None:
        self.last_activity = time.monotonic()
        self.messages: dict[str, int] = {k: 0 for k in INPUT_KINDS}
        self.records = {"spans": 0, "logs": 0, "metrics": 0}
        self.dead_letters = 0
        self.stopping = False
        self.in_flight = 0  # batches taken but not yet acknowledged
        self.first_batch_ts = 0.0  # wall-clock time of the first and latest consumed batch
        self.last_batch_ts = 0.0


def emit(event: str, **fields) -> None:
    """One structured log line on stderr: what tests, `telecorr up` and log shippers read."""
    sys.stderr.write(redact(orjson.dumps({"ts": time.time(), "event": event, **fields}).decode()) + "\n")
    sys.stderr.flush()


def seek_back_uncommitted_too(consumer) -> None:
    """Make Faust's "seek back to committed offsets" also rewind partitions with no commit.

    Faust throws away records it fetched while its flow was stopped (a rebalance starting or
    ending while a fetch was in flight) and then calls `perform_seek` to read them again; but
    that seeks only partitions whose committed offset is above 0, so on a partition the group
    has never committed the records were skipped for good. By-trace partitions hit this most:
    their messages stay unacknowledged while traces are pending, and in the kill tests a
    worker taking over a dead peer's partitions started them dozens of messages in (lost
    traces), or lost raw logs and metric points the same way. Rewinding those partitions to
    the beginning (the group's `earliest` reset) replays at worst, and replays collapse."""
    if getattr(consumer, "_telecorr_seek_back", False):
        return
    faust_seek = consumer.perform_seek

    async def perform_seek() -> None:
        await faust_seek()  # it has just recorded each partition's commit above 0
        never = {tp: 0 for tp in consumer.assignment() if not consumer._committed_offset.get(tp)}
        if never:
            await consumer.seek_wait(never)

    consumer.perform_seek = perform_seek
    consumer._telecorr_seek_back = True


def create_app(settings: Settings, sink: Sink, stop_when_idle_s: float | None = None,
               metrics: WorkerMetrics | None = None, partitions: dict[str, int] | None = None) -> faust.App:
    """The worker's app; `partitions` are the topics' partition counts as the broker reports
    them (kafka_io.prepare_topics), the declared list when not given."""
    app = faust.App(
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
    state = WorkerState()
    metrics = metrics or WorkerMetrics()
    ingestor = Ingestor(settings)
    decode_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telecorr-decode")
    dlq = app.topic(settings.topic("telemetry.dlq"), key_serializer="raw", value_serializer="raw")
    by_trace = app.topic(settings.topic("telemetry.by_trace"), key_serializer="raw", value_serializer="raw")
    metrics_topic = app.topic(settings.topic("telemetry.metrics"), key_serializer="raw", value_serializer="raw")
    partitions = partitions or dict(settings.declared_topics())
    by_trace_partitions = partitions["telemetry.by_trace"]
    metrics_partitions = partitions["telemetry.metrics"]
    corr = wire(app, settings, sink, state, partitions)

    async def forward(batch) -> None:
        """Re-key spans and logs by trace, and share metric points, for the join (delivered
        before the source is acknowledged, like everything else)."""
        sends = [await by_trace.send(key=b"%d" % p, value=v, partition=p)
                 for p, v in by_trace_messages(batch.spans, batch.logs, by_trace_partitions)]
        if batch.metrics:
            sends += [await metrics_topic.send(value=v) for v in metric_messages(batch.metrics)]
        await asyncio.gather(*sends)

    async def announce_rejected(letters: list) -> None:
        """Rows the store refused for good (pipeline/store/failures.py) also go on the DLQ topic."""
        await asyncio.gather(*[await dlq.send(key=row[0].encode(), value=value, headers=headers)
                               for value, headers, row in letters])

    sink.on_reject = announce_rejected

    async def dead_letter(topic: str, events: list, errors: list) -> list[tuple]:
        """Send each message with undecodable input to the DLQ once (original bytes, where it
        came from, its problems summarised), however many bad records it holds."""
        rows, sends = [], []
        for index, reason, count in per_message(errors):
            msg = events[index].message
            value, headers, row = dlq_message(msg.topic, msg.partition, msg.offset, msg.value, reason)
            headers.append(("telecorr.errors", str(count).encode()))
            sends.append(await dlq.send(key=msg.topic.encode(), value=value, headers=headers))
            rows.append(row)
        await asyncio.gather(*sends)  # delivered before the source message is acknowledged
        return rows

    sources: dict[str, SourceProgress] = {}

    ahead = int(settings.max_skew_s * 1e9)  # how far past its Kafka time a record moves progress

    def make_agent(logical: str):
        progress = sources[logical] = SourceProgress(logical)

        def decode(events: list):
            """Decode per source partition (so each one's progress is known), in the decode
            thread; returns the batch and, per partition, its last offset and newest time."""
            parts: dict = {}
            for i, e in enumerate(events):
                idx, values, stamps = parts.setdefault(e.message.partition, ([], [], []))
                idx.append(i)
                values.append(e.message.value or b"")
                stamps.append(int((e.message.timestamp or 0) * 1e9))
            batch, each = ingestor.process_sources(logical, list(parts.values()))
            ends = {p: max(events[i].message.offset for i in idx) for p, (idx, _, _) in parts.items()}
            return batch, [(p, ends[p], newest_time(res.spans, res.logs, res.metrics, ahead)) for p, res in zip(parts, each)]

        async def ingest(stream):
            loop = asyncio.get_running_loop()
            # Up to `max_inflight_batches` batches are written concurrently, so decoding the
            # next batch overlaps the insert of the previous one; each batch is acknowledged
            # only when its own write has finished and, in consumption order, after the batch
            # before it: Faust commits past a gap at the head of its acked offsets when nothing
            # has been committed yet, so a later batch must never be acked first.
            slots = asyncio.Semaphore(settings.max_inflight_batches)
            previous: asyncio.Future | None = None

            async def finish(events: list, batch, dlq_rows: list, parts: list,
                             before: asyncio.Future | None, acked: asyncio.Future) -> None:
                started = time.perf_counter()
                try:
                    await asyncio.gather(
                        sink.write({"spans": batch.spans, "logs": batch.logs,
                                    "metrics": batch.metrics, "dlq": dlq_rows}),
                        forward(batch))
                    for partition, last_offset, newest in parts:
                        progress.forwarded(partition, last_offset, newest)
                    if before is not None:
                        await before
                    for event in events:
                        await stream.ack(event)
                    acked.set_result(None)
                    state.records["spans"] += len(batch.spans)
                    state.records["logs"] += len(batch.logs)
                    state.records["metrics"] += len(batch.metrics)
                    state.dead_letters += len(dlq_rows)
                    state.messages[logical] += len(events)
                    metrics.batch_seconds.labels(stage="store").observe(time.perf_counter() - started)
                except Exception as exc:  # noqa: BLE001 - reported, then the worker stops
                    # The store retries by itself, so this is a send that cannot succeed. The
                    # batches behind this one wait for it (acks stay in order): rather than stall
                    # silently, stop the worker loudly. Nothing past this batch was acknowledged,
                    # so a restarted worker reads it again.
                    if not acked.done():
                        acked.set_exception(exc)
                    emit("error", msg=f"could not deliver a batch from {logical}: {type(exc).__name__}: {exc}")
                    await app.crash(exc)
                finally:
                    state.in_flight -= 1
                    state.last_activity = time.monotonic()
                    state.last_batch_ts = time.time()
                    slots.release()

            async def take(events: list, previous: asyncio.Future | None) -> asyncio.Future:
                await slots.acquire()
                state.in_flight += 1
                state.first_batch_ts = state.first_batch_ts or time.time()
                # Decoding runs on one worker thread so the event loop (heartbeats, acks, timers)
                # stays responsive during large batches; one thread, because the matcher is not
                # thread-safe and the GIL would not let two run at once anyway.
                started = time.perf_counter()
                for e in events:
                    progress.taken(e.message.partition, e.message.offset)
                batch, parts = await loop.run_in_executor(decode_pool, decode, events)
                metrics.batch_seconds.labels(stage="decode").observe(time.perf_counter() - started)
                dlq_rows = await dead_letter(logical, events, batch.errors) if batch.errors else []
                acked = loop.create_future()
                asyncio.ensure_future(finish(events, batch, dlq_rows, parts, previous, acked))
                return acked

            async for taken in stream.noack_take(settings.consume_batch, within=settings.consume_within_s):
                # A run of the batch at a time, so one consumed batch of huge or line-packed
                # messages cannot take unbounded memory (pipeline/decode/limits.py).
                for lo, hi in split_batch([e.message.value or b"" for e in taken], ingestor.limits):
                    previous = await take(taken[lo:hi], previous)
        ingest.__name__ = f"ingest_{logical.replace('.', '_')}"
        return ingest

    @app.on_partitions_assigned.connect
    async def shorten_fetch_wait(sender, assigned, **_kwargs) -> None:
        """Set FETCH_MAX_WAIT_MS on the consumer Faust built, which hard-codes 1500 ms (private
        attributes: if a Faust or aiokafka upgrade moves them, say so instead of failing)."""
        try:
            app.consumer._thread._ensure_consumer()._fetcher._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        except AttributeError as exc:
            emit("warning", msg=f"could not shorten the consumer's fetch wait ({exc}); records may wait up to 1.5 s per hop")
        seek_back_uncommitted_too(app.consumer)

    logical_of = {settings.topic(logical): logical for logical in INPUT_KINDS}
    for logical in INPUT_KINDS:
        topic = app.topic(settings.topic(logical), key_serializer="raw", value_serializer="raw")
        app.agent(topic, name=f"telecorr.ingest.{logical}")(make_agent(logical))

    async def consumer_lag() -> dict[tuple[str, int], int]:
        """Broker-reported end of each assigned partition minus our position (the local broker
        reports batch ends loosely, DESIGN.md "Broker facts": a rough figure there)."""
        out = {}
        for tp in app.consumer.assignment():
            try:
                end, pos = app.consumer.highwater(tp), await app.consumer.position(tp)
            except Exception:  # noqa: BLE001 - a partition mid-rebalance has no position yet
                continue
            if end is not None and pos is not None and end >= 0:
                out[(tp.topic, tp.partition)] = end - pos
        return out

    earliest: dict = {}  # each input partition's earliest offset, asked once per assignment

    @app.on_partitions_assigned.connect
    async def forget_earliest(sender, assigned, **_kwargs) -> None:
        earliest.clear()

    @app.timer(interval=SOURCE_REPORT_S)
    async def report_sources() -> None:
        """Tell every by-trace partition how far each input partition this worker owns has
        got (pipeline/progress.py): the join's watermark waits for sources that are behind."""
        if state.stopping:
            return
        report = {}
        inputs = [tp for tp in app.consumer.assignment() if logical_of.get(tp.topic) in JOIN_INPUTS]
        if any(tp not in earliest for tp in inputs):
            try:
                earliest.update(await app.consumer.earliest_offsets(*inputs))
            except Exception:  # noqa: BLE001 - mid-rebalance: asked again next time
                pass
        for tp in inputs:
            logical = logical_of[tp.topic]
            try:
                end = app.consumer.highwater(tp)
                position = await app.consumer.position(tp)
            except Exception:  # noqa: BLE001 - mid-rebalance: no position yet, so "behind"
                end = position = None
            # Where this worker's agent began: Faust records the group's commit when it seeks
            # there after an assignment (0 and "none" look alike; the earliest offset covers both).
            start = max(app.consumer._committed_offset.get(tp) or 0, earliest.get(tp, 0)) \
                if tp in earliest else None
            report[source_name(logical, tp.partition)] = sources[logical].report(tp.partition, end, position, start)
        # Metric sources report on the metrics topic, behind their points (the join reads
        # that topic apart from the by-trace one); the others on every by-trace partition.
        points = {s: r for s, r in report.items() if s.startswith("otlp_metrics/")}
        traced = {s: r for s, r in report.items() if s not in points}
        sends = [await by_trace.send(key=b"%d" % p, value=v, partition=p)
                 for p, v in (by_trace_messages([], [], by_trace_partitions, traced) if traced else [])]
        if points:
            value = progress_message(points)
            sends += [await metrics_topic.send(value=value, partition=p, headers=[("telecorr.progress", b"1")])
                      for p in range(metrics_partitions)]
        await asyncio.gather(*sends)

    @app.timer(interval=settings.progress_s)
    async def progress() -> None:
        counters = corr.engine.counters()
        metrics.observe_totals(state.messages, state.records, sink.stats.rows, state.dead_letters,
                               sink.stats.failures, counters)
        metrics.observe_engine_state(counters.get("traces_in_flight", 0), corr.engine.buffered_records(),
                                     corr.engine.current_offsets())
        metrics.observe_lag(await consumer_lag())
        emit("progress", messages=sum(state.messages.values()), records=state.records,
             dead_letters=state.dead_letters, stored=sink.stats.rows, store_failures=sink.stats.failures,
             correlation=corr.engine.counters(), held_messages=len(corr.held), skipped_unowned=corr.skipped,
             unreadable_internal=corr.unreadable,
             by_trace_partitions=sorted(corr.owned), watermark_ns=corr.engine.watermark())

    if stop_when_idle_s is not None:
        @app.timer(interval=0.5)
        async def stop_when_idle() -> None:
            # Idle counts only once partitions are assigned (the first group join takes a while).
            if not app.consumer.assignment() or state.in_flight:
                state.last_activity = time.monotonic()
                return
            if not state.stopping and time.monotonic() - state.last_activity >= stop_when_idle_s:
                state.stopping = True
                await sink.flush()
                await corr.emit(final=True)  # every input is in: complete the in-flight traces now
                await app.consumer.commit()
                emit("idle-stop", idle_s=stop_when_idle_s, messages=sum(state.messages.values()),
                     records=state.records, dead_letters=state.dead_letters, stored=sink.stats.rows,
                     first_batch_ts=state.first_batch_ts, last_batch_ts=state.last_batch_ts,
                     correlation=corr.engine.counters())
                os.kill(os.getpid(), signal.SIGTERM)

    # Each batch allocates hundreds of thousands of acyclic records; at the default thresholds
    # the cyclic GC kept re-scanning them and every startup object (a third of the worker's
    # time in benchmarks/ingest.py). Startup objects are frozen out of collection and young
    # collections run less often, so full ones become rare.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    return app
