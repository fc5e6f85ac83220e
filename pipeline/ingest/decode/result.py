"""What a decoder hands back: the good records and, separately, what was wrong.

Kept apart from the decoders so every decoder module (and the agents) can share the shapes
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.column_batch import ColumnBatch
from pipeline.model import LogRecord, MetricPoint, Span


@dataclass(slots=True)
class DecodeError:
    """One problem in one input message; the agents send the message to the DLQ with it."""

    index: int  # index of the offending message in the input batch
    reason: str  # what is wrong and where, e.g. "resourceSpans[0]...spans[3].spanId: 3 bytes, expected 8"


@dataclass(slots=True)
class DecodeResult:
    # Spans are columnar (pipeline/column_batch.py): the hot path never builds a Span per record;
    # indexing or iterating still gives Span records for the tests, the API and the simulator.
    spans: ColumnBatch = field(default_factory=lambda: ColumnBatch(Span))
    # Logs too, from decode through the log stage to the insert (issue 19 round 2).
    logs: ColumnBatch = field(default_factory=lambda: ColumnBatch(LogRecord))
    # And metric points (issue 19 round 3).
    metrics: ColumnBatch = field(default_factory=lambda: ColumnBatch(MetricPoint))
    errors: list[DecodeError] = field(default_factory=list)


class RecordError(ValueError):
    """One record (span, log, point, line) is unusable; the rest of its message is kept.

    `field` is the offending field's name relative to the record (may be ''), so the caller
    can prefix the record's path and produce "…spans[3].spanId: 3 bytes, expected 8".
    """

    def __init__(self, field: str, what: str) -> None:
        super().__init__(f"{field}: {what}" if field else what)
        self.field = field
        self.what = what

    def at(self, path: str) -> str:
        """The full reason, with the record's path in front."""
        if self.field:
            return f"{path}.{self.field}: {self.what}" if path else f"{self.field}: {self.what}"
        return f"{path}: {self.what}" if path else self.what


class MessageError(ValueError):
    """The whole message is unreadable (truncated protobuf, bad JSON, wrong top-level type)."""
