"""One trace's buffered state inside the correlation engine (pipeline/correlate/engine.py)."""

from __future__ import annotations

from pipeline.model import LogRecord, Span


class Trace:
    """Spans and logs of one trace held so far, with what completion and amendment need."""

    __slots__ = ("trace_id", "spans", "logs", "last", "anchor", "count", "base",
                 "emitted", "queued", "waiting", "probe", "paired", "partition")

    def __init__(self, trace_id: str, base: int) -> None:
        self.trace_id = trace_id
        self.spans: dict[str, Span] = {}
        self.logs: dict[str, LogRecord] = {}
        self.last = -(1 << 62)   # newest corrected record time
        self.anchor = 1 << 62    # oldest raw span end: picks the skew table
        self.count = 0           # distinct spans + logs held
        self.base = base         # records already counted by an evicted earlier state
        self.emitted = False
        self.queued = False
        # parent span id -> children that arrived before it (for skew pairs); made on demand
        self.waiting: dict[str, list[Span]] | None = None
        self.probe: int | None = None  # next skew epoch to try while unsettled
        self.paired = False  # holds a usable cross-host parent/child pair
        self.partition = 0  # input partition its records come from (traces are keyed by id)
