"""The ingest stage: a batch of Kafka message values → stored-ready records + dead letters.

decode (pipeline/decode) → parse log text (pipeline/logs) → tag logs with rule ids
(pipeline/query). Pure and synchronous: the agents call it per consumed batch, the
benchmarks and tests call it directly.
"""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.decode import DecodeResult, decode_batch
from pipeline.logs import parse_logs
from pipeline.query import compile_rules, rules_from_setting

INPUT_KINDS = ("otlp_spans", "otlp_logs", "otlp_metrics", "telemetry.events", "telemetry.raw_logs")
# Logical topic → decoder kind.
_DECODER_KIND = {"telemetry.events": "events", "telemetry.raw_logs": "raw_logs"}


class Ingestor:
    """Holds what is costly to build once (the compiled rule set) and processes batches."""

    def __init__(self, settings: Settings) -> None:
        self._matcher = compile_rules(rules_from_setting(settings.rules_file))
        self._tz = settings.log_default_tz

    def process(self, topic: str, values: list[bytes], timestamps_ns: list[int]) -> DecodeResult:
        """Decode one consumed batch of `topic` (a logical name from INPUT_KINDS)."""
        res = decode_batch(_DECODER_KIND.get(topic, topic), values, timestamps_ns)
        if res.logs:
            parse_logs(res.logs, "auto", self._tz)
            self._matcher.tag(res.logs)
        return res
