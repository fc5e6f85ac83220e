"""Every stage in one process, without Kafka: simulated or file traffic → decode → parse/tag →
correlate → ClickHouse.

The worker splits these stages across topics and agents; the root-cause evaluation, the API
benchmark and tests only need the stored result, and getting it in-process is several times
faster than through the broker. The stages are the same library calls the agents make, so the
rows are the ones a worker would write (the worker's keying by trace changes only which
process sees which trace).
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.config import Settings
from pipeline.correlate import Correlator, from_settings
from pipeline.ingest.stage import Ingestor
from pipeline.store.writer import TABLES, client_insert

# Logical input topic per simulator signal, by encoding (same routing as pipeline.sim.output).
_KIND = {"traces": "otlp_spans", "logs": "otlp_logs", "metrics": "otlp_metrics"}
_FLUSH_ROWS = 50_000


class OfflinePipeline:
    """Feed (topic, payload) messages; rows reach the store in batches; `close()` flushes all."""

    def __init__(self, client, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self.ingestor = Ingestor(settings)
        self.engine = Correlator(from_settings(settings))
        self._insert = client_insert(client)
        self._pending: dict[str, list] = {t: [] for t in ("spans", "logs", "metrics", "correlated_spans")}
        self._rows = 0
        self.counts: dict[str, int] = {"spans": 0, "logs": 0, "metrics": 0, "correlated_spans": 0, "errors": 0}

    def feed(self, messages: Iterable[tuple[str, bytes]], ts_ns: int = 0) -> None:
        """Decode and correlate a run of (logical topic, payload) messages."""
        for topic, payload in messages:
            res = self.ingestor.process(topic, [payload], [ts_ns])
            self.counts["errors"] += len(res.errors)
            self._stage("spans", res.spans)
            self._stage("logs", res.logs)
            self._stage("metrics", res.metrics)
            self.engine.add(res.spans, res.logs, res.metrics)
            if self._rows >= _FLUSH_ROWS:
                self._stage("correlated_spans", self.engine.poll())
                self._flush()

    def feed_simulation(self, sim) -> None:
        """All of a `pipeline.sim.Simulation`'s output (OTLP/JSON or protobuf encodings)."""
        self.feed((_KIND[signal], payload) for signal, payload in sim.messages() if signal in _KIND)

    def close(self) -> dict[str, int]:
        """Complete every in-flight trace and write everything; returns row counts per table."""
        self._stage("correlated_spans", self.engine.flush_all())
        self._flush()
        return dict(self.counts)

    def _stage(self, table: str, records: list) -> None:
        if records:
            self._pending[table].extend(records)
            self._rows += len(records)

    def _flush(self) -> None:
        for table, records in self._pending.items():
            if records:
                names, build = TABLES[table]
                self._insert(table, build(records), names)
                self.counts[table] += len(records)
                records.clear()
        self._rows = 0
