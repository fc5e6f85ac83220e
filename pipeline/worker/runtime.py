"""Everything one worker process runs, assembled once: the ingest agents' logic, the
correlation, the source reports, and what the app's timers do (progress event, metrics,
stop-when-idle). agents/app.py declares the Faust app around it."""

from __future__ import annotations

import gc
import os
import signal
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from pipeline.config import Settings
from pipeline.ingest.stage import INPUT_KINDS, Ingestor
from pipeline.worker.selfmetrics import WorkerMetrics
from pipeline.store.writer import Sink
from pipeline.worker.correlation import Correlation
from pipeline.worker.ingest_batches import IngestAgent
from pipeline.worker.outbox import DeadLetters, Outbox
from pipeline.worker.source_reports import SourceReporter
from pipeline.worker.state import WorkerState, emit


class WorkerRuntime:
    """The worker's parts and shared state; the Faust app calls into it."""

    def __init__(self, settings: Settings, sink: Sink, out: Outbox, partitions: dict[str, int],
                 crash: Callable[[BaseException], Awaitable], committed: Callable[[object, object], int | None],
                 metrics: WorkerMetrics | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.state = WorkerState()
        self.metrics = metrics or WorkerMetrics()
        self.letters = DeadLetters(out, sink)
        sink.on_reject = self.letters.rejected
        ingestor = Ingestor(settings)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telecorr-decode")
        self.ingest = {logical: IngestAgent(logical, settings, ingestor, pool, sink, out, self.letters,
                                            self.state, self.metrics, partitions, crash)
                       for logical in INPUT_KINDS}
        self.corr = Correlation(settings, sink, out, partitions, self.state)
        self.reporter = SourceReporter(settings, {k: a.progress for k, a in self.ingest.items()}, out,
                                       partitions, committed)

    async def assigned(self, assigned: set) -> None:
        """A new assignment (the full set of topic partitions this worker now owns)."""
        self.reporter.reassigned()
        for logical, agent in self.ingest.items():
            name = self.settings.topic(logical)
            agent.revoke({tp.partition for tp in assigned if tp.topic == name})
        by_trace = self.settings.topic("telemetry.by_trace")
        await self.corr.reassign({tp.partition for tp in assigned if tp.topic == by_trace})

    async def report_sources(self, consumer) -> None:
        if not self.state.stopping:
            await self.reporter.send(consumer)

    async def observe(self, consumer) -> None:
        """The periodic progress event and the Prometheus figures."""
        state, sink, corr = self.state, self.sink, self.corr
        counters = corr.engine.counters()
        self.metrics.observe_totals(state.messages, state.records, sink.stats.rows, state.dead_letters,
                                    sink.stats.failures, counters)
        self.metrics.observe_engine_state(counters.get("traces_in_flight", 0), corr.engine.buffered_records(),
                                          corr.engine.current_offsets())
        self.metrics.observe_lag(await consumer_lag(consumer))
        emit("progress", messages=sum(state.messages.values()), records=state.records,
             dead_letters=state.dead_letters, stored=sink.stats.rows, store_failures=sink.stats.failures,
             correlation=corr.engine.counters(), held_messages=corr.ledger.held(), skipped_unowned=corr.skipped,
             unreadable_internal=corr.unreadable,
             by_trace_partitions=sorted(corr.owned), watermark_ns=corr.engine.watermark())

    async def stop_if_idle(self, consumer, idle_s: float) -> None:
        """Flush, complete every trace, commit and stop once idle for `idle_s` (backfills, CI).
        Idle counts only once partitions are assigned (the first group join takes a while)."""
        state = self.state
        if not consumer.assignment() or state.in_flight:
            state.active()
            return
        if state.stopping or time.monotonic() - state.last_activity < idle_s:
            return
        state.stopping = True
        await self.sink.flush()
        while await self.corr.emit(final=True):  # every input is in: complete the in-flight traces
            pass  # (in slices: all of a replayed backlog's rows at once was many GiB)
        await consumer.commit()
        emit("idle-stop", idle_s=idle_s, messages=sum(state.messages.values()),
             records=state.records, dead_letters=state.dead_letters, stored=self.sink.stats.rows,
             first_batch_ts=state.first_batch_ts, last_batch_ts=state.last_batch_ts,
             batch_window_cpu_s=round(state.last_batch_cpu - state.first_batch_cpu, 3),
             correlation=self.corr.engine.counters(), stage_seconds=self.stage_seconds())
        os.kill(os.getpid(), signal.SIGTERM)


    def stage_seconds(self) -> dict[str, float]:
        """Seconds spent so far per stage: the ingest agents' decode and store (awaited), the
        correlation agent's wire decode, join, rows and insert (awaited)."""
        get = self.metrics.registry.get_sample_value
        out = {f"ingest_{st}": get("telecorr_worker_batch_seconds_sum", {"stage": st}) or 0.0
               for st in ("decode", "store")}
        out.update({f"correlate_{k}": v for k, v in self.corr.seconds.items()})
        return out


async def consumer_lag(consumer) -> dict[tuple[str, int], int]:
    """Broker-reported end of each assigned partition minus our position (the local broker
    reports batch ends loosely, tests/test_broker_facts.py: a rough figure there)."""
    out = {}
    for tp in consumer.assignment():
        try:
            end, pos = consumer.highwater(tp), await consumer.position(tp)
        except Exception:  # noqa: BLE001 - a partition mid-rebalance has no position yet
            continue
        if end is not None and pos is not None and end >= 0:
            out[(tp.topic, tp.partition)] = end - pos
    return out


def tune_gc() -> None:
    """Each batch allocates hundreds of thousands of acyclic records; at the default thresholds
    the cyclic GC kept re-scanning them and every startup object (a third of the worker's
    time in benchmarks/ingest.py). Startup objects are frozen out of collection and young
    collections run less often, so full ones become rare."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
