"""The ingest stage: a batch of Kafka message values → stored-ready records + dead letters.

decode (pipeline/ingest/decode) → parse log text (pipeline/ingest/logs) → tag logs with rule ids
(pipeline/query) → give each log its template (pipeline/ingest/logs/templates.py).
Pure and synchronous: the agents call it per consumed batch, the benchmarks and tests call it
directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.config import Settings
from pipeline.ingest.decode import DecodeResult, Limits, decode_batch
from pipeline.ingest.decode.result import DecodeError
from pipeline.ingest.logs import parse_logs
from pipeline.ingest.logs.templates import TemplateMiner
from pipeline.query import compile_rules, rules_from_setting

INPUT_KINDS = ("otlp_spans", "otlp_logs", "otlp_metrics", "telemetry.events", "telemetry.raw_logs")
# Logical topic → decoder kind.
_DECODER_KIND = {"telemetry.events": "events", "telemetry.raw_logs": "raw_logs"}


def limits_from(settings: Settings) -> Limits:
    """The size limits the settings ask for (README "Settings")."""
    return Limits(settings.max_attr_bytes, settings.max_body_bytes, settings.max_record_bytes,
                  settings.max_records_per_message, settings.max_batch_bytes, settings.max_batch_records)


class Ingestor:
    """Holds what is costly to build once (the compiled rule set) and processes batches."""

    def __init__(self, settings: Settings) -> None:
        self._matcher = compile_rules(rules_from_setting(settings.rules_file))
        self._tz = settings.log_default_tz
        self.limits = limits_from(settings)
        self._templates = TemplateMiner()

    def process(self, topic: str, values: list[bytes], timestamps_ns: list[int]) -> DecodeResult:
        """Decode one consumed batch of `topic` (a logical name from INPUT_KINDS)."""
        res = decode_batch(_DECODER_KIND.get(topic, topic), values, timestamps_ns, self.limits)
        return self._finish(res)

    def process_sources(self, topic: str, parts: Sequence[tuple[list[int], list[bytes], list[int]]]
                        ) -> tuple[DecodeResult, list[DecodeResult]]:
        """Like `process` for a batch whose messages come from several sources (partitions):
        `parts` holds each source's (batch indexes, values, timestamps). Returns the merged
        result (error indexes refer to the whole batch) and each part's own records, so the
        caller can tell how far each source has got."""
        kind = _DECODER_KIND.get(topic, topic)
        merged = DecodeResult()
        each = []
        for indexes, values, stamps in parts:
            res = decode_batch(kind, values, stamps, self.limits)
            merged.spans += res.spans
            merged.logs += res.logs
            merged.metrics += res.metrics
            merged.errors += [DecodeError(indexes[e.index], e.reason) for e in res.errors]
            each.append(res)
        merged.errors.sort(key=lambda e: e.index)
        self._finish(merged)
        start = 0
        for res in each:  # each part's logs as the log stage left them (their times may change)
            res.logs = merged.logs[start:start + len(res.logs)]
            start += len(res.logs)
        return merged, each

    def _finish(self, res: DecodeResult) -> DecodeResult:
        """Parse, tag and template the logs, in place, on their columns."""
        if res.logs:
            parse_logs(res.logs, "auto", self._tz)
            self._matcher.tag(res.logs)
            self._templates.assign(res.logs)
        return res
