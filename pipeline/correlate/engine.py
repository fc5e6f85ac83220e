"""The correlation engine: batches of spans, logs and metric points in, correlated rows out.

No I/O: the Kafka agents feed `add` and write what `poll` returns. Time is event time only:
each input partition's watermark is the newest (skew-corrected) record time it has carried,
held back to the progress of any upstream source that reports itself behind (see `add`),
and the engine's watermark is the minimum over partitions that have data. A trace completes
once the watermark is an inactivity gap past its newest record; it is then kept, already
emitted, until the watermark passes it by the lateness bound, so late spans and logs amend
it. Anything older than the lateness bound is counted and left to raw storage.

Row versions: 2 x (distinct spans and logs the trace held when its rows were built), +1 once
its skew table is decided (skew.py); they rise with every re-emission (ReplacingMergeTree
keeps the newest); the final one depends only on the trace's data (clean, shuffled or replayed
with duplicates: the same version and content). An evicted trace's count is remembered.

Replay: skew tables are a function of the pair samples (exchanged through one topic), so a
successor rebuilds the same tables; `drop_partitions` forgets partitions lost in a rebalance.
Memory: docs/architecture.md "Memory" (caps, then early completion, `completed_early`).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable

from pipeline.correlate.engine_config import CorrelateConfig
from pipeline.correlate.field_pool import FieldPool
from pipeline.correlate.metric_index import MetricIndex
from pipeline.correlate.joined_rows import build_columns
from pipeline.correlate.sampling import keep_by_hash
from pipeline.correlate.skew import SkewEstimator
from pipeline.correlate.trace_state import Trace
from pipeline.column_batch import ColumnBatch
from pipeline.model import CorrelatedSpan, LogRecord, MetricPoint, Span, content_id
from pipeline.worker.progress import Reports, WatermarkCaps

COUNTER_NAMES = (
    "spans_in", "logs_in", "metrics_in", "duplicates", "logs_without_trace", "too_late_spans", "too_late_logs",
    "ahead_of_kafka_time", "traces_completed", "traces_completed_early", "late_amends", "skew_resettled",
    "rows_emitted", "traces_sampled_out", "amend_state_evicted", "log_join_hit", "log_join_miss",
    "metric_join_hit", "metric_join_miss", "traces_handed_over")


class Correlator:
    """In-memory windowed join of spans, logs and metrics on trace id; see module docs."""

    def __init__(self, config: CorrelateConfig | None = None) -> None:
        self.config = cfg = config or CorrelateConfig()
        self.skew = SkewEstimator(cfg)
        self.metrics = MetricIndex(cfg)
        self._live: dict[str, Trace] = {}
        self._retained: OrderedDict[str, Trace] = OrderedDict()  # emitted, kept for amends; oldest first
        self._unsettled: OrderedDict[str, Trace] = OrderedDict()  # emitted before skew was decided
        self._evicted_versions: OrderedDict[str, int] = OrderedDict()
        # No unsettled trace waits for a table older than this epoch (see _settle).
        self._probe_floor = -(1 << 62)
        self._heap: list[tuple[int, int, Trace]] = []
        self._seq = 0
        self._records = 0
        self._pwm: dict[int, int] = {}  # input partition -> newest (corrected) record time
        # What the upstream sources report, per input partition (pipeline/worker/progress.py).
        self._caps = WatermarkCaps(cfg.sources, cfg.inactivity_ns)
        self._pending = ColumnBatch(CorrelatedSpan)  # rows of early completions, not yet polled
        self._stats = dict.fromkeys(COUNTER_NAMES, 0)
        self._pool = FieldPool()

    def add(self, spans: Iterable[Span] = (), logs: Iterable[LogRecord] = (),
            metrics: ColumnBatch | Iterable[MetricPoint] = (), partition: int = 0,
            progress: Reports | None = None) -> None:
        """Buffer one batch from one input partition (metrics may come from any partition).

        `progress` is what the upstream sources (input topic partitions, decoded by separate
        agents at separate paces) report with the batch: the newest event time each has
        forwarded and whether it still has a backlog. While a source is behind, this
        partition's watermark waits for it, so in a replayed backlog the slower signal's
        records are joined rather than found too late behind the faster one. A caught-up
        source holds nothing back (a signal that stops must not stop completion). With
        `config.sources` set, nothing moves until each of them has reported."""
        st = self._stats
        if metrics:
            metrics = metrics if type(metrics) is ColumnBatch else list(metrics)
            self.metrics.add(metrics)
            st["metrics_in"] += len(metrics)
        offs = self.skew.current_offsets() if self.config.skew_correction else {}
        wm = self.watermark()
        cutoff = -(1 << 62) if wm is None else wm - self.config.max_lateness_ns
        pwm = self._pwm.get(partition, -(1 << 62))
        live, retained, unsettled = self._live, self._retained, self._unsettled
        max_records, max_traces = self.config.max_records, self.config.max_traces
        add_pair = self.skew.add_pair
        records = self._records
        # The trace count only grows when a trace becomes live (or, between calls, when an
        # emitted trace waits for its skew table), so it is checked then; relief works on
        # self._records and always ends under both caps.
        crowded = len(live) + len(retained) + len(unsettled) > max_traces
        spans = spans if isinstance(spans, list) else list(spans)
        self._pool.share_spans(spans)
        # A record counts towards the watermark and its trace's inactivity clock no further
        # than its Kafka timestamp plus the largest clock skew; it is still stored as sent.
        ahead = self.config.max_skew_ns
        late = dup = capped = 0
        for s in spans:
            t = s.end_ns - offs.get(s.host, 0) if offs else s.end_ns
            if t < cutoff:
                late += 1
                continue
            if s.kafka_ns and t > s.kafka_ns + ahead:  # a clock ahead must not drag the watermark
                t = s.kafka_ns + ahead
                capped += 1
            if t > pwm:
                pwm = t
            tid, sid = s.trace_id, s.span_id
            tr = live.get(tid)
            if tr is None:
                tr = retained.get(tid) or unsettled.get(tid)
                if tr is not None and sid in tr.spans:
                    dup += 1
                    continue
                tr = self._activate(tid)
                tr.partition = partition
                crowded = len(live) + len(retained) + len(unsettled) > max_traces
            elif sid in tr.spans:
                dup += 1
                continue
            held = tr.spans
            held[sid] = s
            tr.count += 1
            records += 1
            if t > tr.last:
                tr.last = t
            if s.end_ns < tr.anchor:
                tr.anchor = s.end_ns
            pid = s.parent_span_id
            parent = held.get(pid)
            if parent is not None:
                if parent.host != s.host and add_pair(parent, s):
                    tr.paired = True
            elif pid:
                if tr.waiting is None:
                    tr.waiting = {pid: [s]}
                else:
                    tr.waiting.setdefault(pid, []).append(s)
            if tr.waiting:
                kids = tr.waiting.pop(sid, None)
                if kids:
                    for k in kids:
                        if k.host != s.host and add_pair(s, k):
                            tr.paired = True
            if crowded or records > max_records:
                self._records = records
                self._relieve()
                records, crowded = self._records, False
        st["spans_in"] += len(spans)
        st["too_late_spans"] += late
        st["duplicates"] += dup
        logs = logs if isinstance(logs, list) else list(logs)
        self._pool.share_logs(logs)
        late = dup = nid = 0
        for r in logs:
            tid = r.trace_id
            if not tid:
                nid += 1
                continue
            if r.time_ns:
                t = r.time_ns - offs.get(r.host, 0) if offs else r.time_ns
            else:
                t = r.observed_ns
            if t < cutoff:
                late += 1
                continue
            if r.kafka_ns and t > r.kafka_ns + ahead:
                t = r.kafka_ns + ahead
                capped += 1
            if t > pwm:
                pwm = t
            lid = r.id or content_id(r.time_ns, r.observed_ns, tid, r.span_id, r.body)
            tr = live.get(tid)
            if tr is None:
                tr = retained.get(tid) or unsettled.get(tid)
                if tr is not None and lid in tr.logs:
                    dup += 1
                    continue
                tr = self._activate(tid)
                tr.partition = partition
                crowded = len(live) + len(retained) + len(unsettled) > max_traces
            elif lid in tr.logs:
                dup += 1
                continue
            tr.logs[lid] = r
            tr.count += 1
            records += 1
            if t > tr.last:
                tr.last = t
            if crowded or records > max_records:
                self._records = records
                self._relieve()
                records, crowded = self._records, False
        self._records = records
        st["logs_in"] += len(logs)
        st["too_late_logs"] += late
        st["duplicates"] += dup
        st["logs_without_trace"] += nid
        st["ahead_of_kafka_time"] += capped
        if pwm > -(1 << 62):
            self._pwm[partition] = pwm
        if progress:  # it describes the sources after this batch: applies from the next one
            self._caps.note(partition, progress)
        else:
            self._caps.unheard(partition)

    def _activate(self, trace_id: str) -> Trace:
        tr = self._retained.pop(trace_id, None) or self._unsettled.get(trace_id)
        if tr is None:
            tr = Trace(trace_id, self._evicted_versions.pop(trace_id, 0))
        self._live[trace_id] = tr
        if not tr.queued:
            tr.queued = True
            self._seq += 1
            heapq.heappush(self._heap, (tr.last, self._seq, tr))
        return tr

    def is_pending(self, trace_id: str) -> bool:
        """Whether a trace still owes rows: live (not completed yet) or emitted before its skew
        table was decided (one more emission to come). Input holding its records must not be
        acknowledged yet, so a crash replays it (docs/architecture.md "Delivery")."""
        return trace_id in self._live or trace_id in self._unsettled

    def watermark(self) -> int | None:
        """Event-time watermark: the slowest partition's newest record time, each held back to
        its behind sources' progress (None before data, or while a source holds everything)."""
        return self._caps.watermark(self._pwm)

    def poll(self) -> list[CorrelatedSpan]:
        return self.poll_columns().records()  # as records: the tests' and the offline tools' form

    def poll_columns(self) -> ColumnBatch:
        """Insert columns of traces the watermark completed (and early completions since), at
        most `poll_batch_records` records' worth (a released backlog was a memory peak); then
        forget emitted traces older than the lateness bound."""
        out, self._pending = self._pending, ColumnBatch(CorrelatedSpan)
        wm = self.watermark()
        if wm is None:
            return out
        gap, budget = self.config.inactivity_ns, self.config.poll_batch_records
        heap = self._heap
        while heap and heap[0][0] + gap <= wm and budget > 0:  # the rest at the next poll
            last, _, tr = heapq.heappop(heap)
            if self._live.get(tr.trace_id) is not tr:
                continue
            if tr.last + gap > wm:
                self._seq += 1
                heapq.heappush(heap, (tr.last, self._seq, tr))
                continue
            tr.queued = False
            self._complete(tr)
            self._emit(tr, False, wm, out)
            budget -= tr.count
        budget = self._settle(out, wm, budget)
        horizon = wm - self.config.max_lateness_ns - gap
        retained = self._retained
        while retained:
            tid = next(iter(retained))
            tr = retained[tid]
            if tr.last >= horizon:
                break
            retained.popitem(last=False)
            if tid not in self._unsettled:
                self._records -= tr.count
        if budget > 0:  # not while traces wait for the next poll: they may need those tables
            self.skew.prune(wm)
        return out

    def _complete(self, tr: Trace) -> None:
        del self._live[tr.trace_id]
        self._retained[tr.trace_id] = tr

    def _settle(self, out: ColumnBatch, wm: int | None, budget: int = 1 << 62) -> int:
        """Re-emit traces whose skew table has been decided since, up to `budget` records;
        returns what is left of it (<= 0: some wait for the next call)."""
        limit = None if wm is None else self.skew.last_final_epoch(wm)
        if not self._unsettled or (limit is not None and limit < self._probe_floor):
            return budget  # none, or every one waits for a table that is not final yet
        # A pass (over thousands of traces after a cold start) notes the oldest table any still
        # waits for; polls before that table is final skip it. Same traces, same order.
        floor = 1 << 62
        for tid, tr in list(self._unsettled.items()):
            if budget <= 0:  # the rest at the next poll (their rows do not change)
                floor = -(1 << 62)
                break
            probe = tr.probe
            if tid in self._live or (limit is not None and probe is not None and probe > limit):
                floor = -(1 << 62) if probe is None else min(floor, probe)
                continue  # completes again anyway / still waiting for the same table
            table, tr.probe = self.skew.settle(self.skew.epoch_of(tr.anchor), tr.paired, wm, probe)
            if table is None:
                floor = min(floor, tr.probe)
                continue
            self._emit(tr, False, wm if wm is not None else self.watermark() or 0, out, table=table)
            budget -= tr.count
            if tid not in self._retained:
                self._records -= tr.count
        self._probe_floor = floor
        return budget

    def flush_all(self) -> list[CorrelatedSpan]:
        return self.flush_columns().records()  # as records, like poll

    def flush_columns(self, limit: int = 1 << 62) -> ColumnBatch:
        """Complete every in-flight trace now (stop-when-idle: all input has been seen), or
        traces of about `limit` records: call again while `unflushed()`."""
        out, self._pending = self._pending, ColumnBatch(CorrelatedSpan)
        wm = self.watermark() or 0
        while self._heap and limit > 0:
            _, _, tr = heapq.heappop(self._heap)
            if self._live.get(tr.trace_id) is not tr:
                continue
            tr.queued = False
            self._complete(tr)
            self._emit(tr, False, wm, out, final=True)
            limit -= tr.count
        self._settle(out, None, limit)
        return out

    def _relieve(self) -> None:
        """Get back under 90% of both caps, so relief runs once per many records."""
        cfg = self.config
        max_records, max_traces = cfg.max_records * 9 // 10, cfg.max_traces * 9 // 10
        retained, unsettled = self._retained, self._unsettled

        def over() -> bool:
            return self._records > max_records or len(self._live) + len(retained) + len(unsettled) > max_traces

        while retained and over():
            tr = retained.popitem(last=False)[1]
            unsettled.pop(tr.trace_id, None)
            self._forget(tr)
        while unsettled and over():
            tr = unsettled.popitem(last=False)[1]
            if tr.trace_id not in self._live:
                self._forget(tr)
        heap, wm = self._heap, self.watermark() or 0
        while heap and over():
            _, _, tr = heapq.heappop(heap)
            if self._live.get(tr.trace_id) is not tr:
                continue
            tr.queued = False
            del self._live[tr.trace_id]
            unsettled.pop(tr.trace_id, None)
            self._emit(tr, True, wm, self._pending)
            self._forget(tr)

    def _forget(self, tr: Trace) -> None:
        """Drop an emitted trace's state, remembering its version so later rows go above it."""
        self._records -= tr.count
        self._stats["amend_state_evicted"] += 1
        ev = self._evicted_versions
        ev[tr.trace_id] = tr.base + tr.count
        if len(ev) > self.config.max_traces:
            ev.popitem(last=False)

    def _emit(self, tr: Trace, early: bool, wm: int, out: ColumnBatch, final: bool = False,
              table: dict[str, int] | None = None) -> None:
        """Append rows for a trace's current content to `out`. `final`: all input is in (flush);
        `table`: the skew table `_settle` decided. Version = 2 x records, +1 once decided."""
        st = self._stats
        amend = tr.emitted
        if not tr.spans:
            # Logs whose spans never arrived: they stay in raw storage.
            st["log_join_miss"] += len(tr.logs)
            return
        cfg = self.config
        settled = True
        if cfg.skew_correction:
            resettle = table is not None
            if table is None:
                table, tr.probe = self.skew.settle(self.skew.epoch_of(tr.anchor), tr.paired,
                                                   None if final else wm)
            if table is None:
                settled, table = False, {}
                if not early:
                    self._unsettled[tr.trace_id] = tr
                    self._probe_floor = min(self._probe_floor, tr.probe)
            else:
                self._unsettled.pop(tr.trace_id, None)
            own = self.skew.trace_offsets(tr.spans, table)
            if own:
                offsets = dict(table)
                offsets.update(own)
            else:
                offsets = table
        else:
            resettle = False
            offsets = {}
        version = 2 * (tr.base + tr.count) + settled
        n0 = len(out)
        any_error, longest = build_columns(tr.spans, list(tr.logs.values()), offsets, self.metrics, cfg,
                                           tr.trace_id, st, (early, amend, version, wm), out)
        if not keep_by_hash(tr.trace_id, cfg.sample_rate) and not any_error and not (
                cfg.slow_span_ns and longest >= cfg.slow_span_ns):
            st["traces_sampled_out"] += 1
            del out[n0:]
            return
        tr.emitted = True
        st["rows_emitted"] += len(out) - n0
        st["skew_resettled" if resettle else "late_amends" if amend else "traces_completed"] += 1
        st["traces_completed_early"] += int(early)

    def drop_partitions(self, partitions: Iterable[int]) -> int:
        """Forget every trace (live, unsettled or kept for amendments) read from these input
        partitions, and their watermarks; returns how many traces were dropped.

        For a rebalance: the partitions' new owner replays them from the last commit, which
        never passes a record of a pending trace, so it rebuilds those traces whole. Keeping
        them here would emit partial rows, and a lost partition's frozen watermark would hold
        back completion of the partitions still owned."""
        lost = set(partitions)
        if not lost:
            return 0
        dropped: dict[str, Trace] = {}
        for pool in (self._live, self._retained, self._unsettled):
            for tid in [t for t, tr in pool.items() if tr.partition in lost]:
                dropped[tid] = pool.pop(tid)
        for tr in dropped.values():
            self._records -= tr.count
            tr.queued = False  # its heap entry is skipped: the trace is no longer live
        for p in lost:
            self._pwm.pop(p, None)
        self._caps.forget(lost)
        self._stats["traces_handed_over"] += len(dropped)
        return len(dropped)

    def counters(self) -> dict[str, int]:
        """Everything counted so far (nothing is dropped without a count). Join hits and
        misses are counted per emission, so a re-emitted trace counts again."""
        return {**self._stats, "traces_in_flight": len(self._live), "traces_retained": len(self._retained),
                "traces_unsettled": len(self._unsettled), "buffered_records": self._records,
                "metric_series_dropped": self.metrics.series_dropped}

    def unflushed(self) -> bool:
        """Whether a limited flush_columns left work (each call shrinks what this counts)."""
        return bool(self._heap) or any(t not in self._live for t in self._unsettled)

    def buffered_records(self) -> int:
        """Spans + logs currently held (live and kept-for-amendment traces)."""
        return self._records

    def current_offsets(self) -> dict[str, int]:
        """Newest per-host clock offset estimates, ns (host clock minus reference clock)."""
        return self.skew.current_offsets()
