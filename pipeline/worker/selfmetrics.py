"""The worker's own Prometheus metrics: throughput, lag, dead letters, batch latencies, join hit
rates, clock-offset estimates, traces in flight and memory.

One registry per worker (never the process-global one), so a worker that also serves the API
exposes both sets on one `/metrics`, and tests can run several workers' registries side by
side. Counters are advanced from the worker's running totals (`observe_totals`), so the same
numbers feed the progress lines and the metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Correlation-engine counters exported as counters, by metric name and labels.
_ENGINE_COUNTERS = {
    "traces_completed": ("telecorr_worker_traces_completed", {}),
    "traces_completed_early": ("telecorr_worker_traces_completed_early", {}),
    "late_amends": ("telecorr_worker_late_amends", {}),
    "log_join_hit": ("telecorr_worker_joins", {"signal": "log", "result": "hit"}),
    "log_join_miss": ("telecorr_worker_joins", {"signal": "log", "result": "miss"}),
    "metric_join_hit": ("telecorr_worker_joins", {"signal": "metric", "result": "hit"}),
    "metric_join_miss": ("telecorr_worker_joins", {"signal": "metric", "result": "miss"}),
    "too_late_spans": ("telecorr_worker_too_late", {"signal": "span"}),
    "too_late_logs": ("telecorr_worker_too_late", {"signal": "log"}),
    "ahead_of_kafka_time": ("telecorr_worker_ahead_of_kafka_time", {}),  # the watermark guard's caps
}


class WorkerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)  # process_resident_memory_bytes, cpu seconds, open fds
        self.messages = Counter("telecorr_worker_messages", "Kafka messages consumed", ("topic",), registry=r)
        self.records = Counter("telecorr_worker_records", "Records decoded from consumed messages", ("signal",),
                               registry=r)
        self.rows = Counter("telecorr_worker_rows_written", "Rows written to ClickHouse", ("table",), registry=r)
        self.dead_letters = Counter("telecorr_worker_dead_letters", "Records sent to the dead-letter topic",
                                    registry=r)
        self.store_failures = Counter("telecorr_worker_store_failures", "Failed ClickHouse writes (retried)",
                                      registry=r)
        self.batch_seconds = Histogram("telecorr_worker_batch_seconds", "Time per consumed batch, by stage",
                                       ("stage",), buckets=BATCH_BUCKETS, registry=r)
        self.lag = Gauge("telecorr_worker_consumer_lag", "Messages behind the partition's end (broker-reported)",
                         ("topic", "partition"), registry=r)
        self.inflight_traces = Gauge("telecorr_worker_traces_in_flight", "Traces buffered awaiting completion",
                                     registry=r)
        self.buffered_records = Gauge("telecorr_worker_buffered_records", "Spans and logs buffered in flight",
                                      registry=r)
        self.clock_offset = Gauge("telecorr_worker_clock_offset_seconds", "Estimated clock offset per host",
                                  ("host",), registry=r)
        self._engine = {}
        for key, (name, labels) in _ENGINE_COUNTERS.items():
            if name not in self._engine:
                self._engine[name] = Counter(name, f"Correlation engine: {name.removeprefix('telecorr_worker_')}",
                                             tuple(labels), registry=r)
        self._seen: dict[tuple, float] = {}

    def _advance(self, counter, key: tuple, total: float, **labels: str) -> None:
        """Move a counter up to a running total (totals only grow; a reset is ignored)."""
        prev = self._seen.get(key, 0.0)
        if total > prev:
            (counter.labels(**labels) if labels else counter).inc(total - prev)
            self._seen[key] = total

    def observe_totals(self, messages: dict[str, int], records: dict[str, int], rows: dict[str, int],
                       dead_letters: int, store_failures: int, engine: dict[str, int]) -> None:
        """Running totals from the worker's state, the sink and the correlation engine."""
        for topic, n in messages.items():
            self._advance(self.messages, ("m", topic), n, topic=topic)
        for signal, n in records.items():
            self._advance(self.records, ("r", signal), n, signal=signal)
        for table, n in rows.items():
            self._advance(self.rows, ("w", table), n, table=table)
        self._advance(self.dead_letters, ("dlq",), dead_letters)
        self._advance(self.store_failures, ("sf",), store_failures)
        for key, (name, labels) in _ENGINE_COUNTERS.items():
            if key in engine:
                self._advance(self._engine[name], ("e", key), engine[key], **labels)

    def observe_engine_state(self, in_flight: int, buffered: int, offsets_ns: dict[str, int]) -> None:
        self.inflight_traces.set(in_flight)
        self.buffered_records.set(buffered)
        for host, off in offsets_ns.items():
            self.clock_offset.labels(host=host).set(off / 1e9)

    def observe_lag(self, lags: dict[tuple[str, int], int]) -> None:
        for (topic, partition), lag in lags.items():
            self.lag.labels(topic=topic, partition=str(partition)).set(max(0, lag))
