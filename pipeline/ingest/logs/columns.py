"""Log batches as columns: what the rule matcher reads, one list per field, not one object per line.

`BatchColumns` hands out the lists of a ColumnBatch of logs (the worker's path, decoded
straight into columns); `RecordColumns` reads the columns off parsed `LogRecord`s. `TextColumns`
is a batch of free-text lines (`--format text`) that derives each column only when a rule
reads it: the body is the line itself, so rules on the message need no parsing at all, and
level, trace id and the out-of-range time attribute are computed, for the whole batch, only
for rule sets that ask for them. Every value equals what `parse_logs(…, "text")` would store
on a fresh record: the time attribute is computed by the same functions, level and ids by
one Hyperscan scan of the batch that the same regexes confirm (pipeline/ingest/logs/detect.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pipeline.column_batch import ColumnBatch
from pipeline.ingest.decode.timebounds import OUT_OF_RANGE_ATTR, in_range
from pipeline.ingest.logs import detect
from pipeline.ingest.logs.formats import TEXT_TIME_MAX_END
from pipeline.ingest.logs.textblock import ScanBuffer, buffer_lines, buffer_of, scan_buffer
from pipeline.ingest.logs.timestamps import find_timestamp
from pipeline.model import LogRecord


# One list comprehension per stored column (pipeline/query/fields.COLUMNS values): a plain
# attribute read in a comprehension is about 3x faster per record than operator.attrgetter.
RECORD_READERS: dict[str, Callable[[Sequence[LogRecord]], list]] = {
    "body": lambda logs: [r.body for r in logs],
    "severity_text": lambda logs: [r.severity_text for r in logs],
    "service": lambda logs: [r.service for r in logs],
    "host": lambda logs: [r.host for r in logs],
    "instance": lambda logs: [r.instance for r in logs],
    "trace_id": lambda logs: [r.trace_id for r in logs],
    "span_id": lambda logs: [r.span_id for r in logs],
}


class RecordColumns:
    """Columns read off a list of records (parsed already)."""

    def __init__(self, logs: Sequence[LogRecord]):
        self.logs = logs

    def __len__(self) -> int:
        return len(self.logs)

    def column(self, name: str) -> list[str]:
        """A stored column by name (`body`, `severity_text`, …)."""
        return RECORD_READERS[name](self.logs)

    def severity_numbers(self) -> list[int]:
        return [r.severity_number for r in self.logs]

    def attribute(self, key: str) -> list[str]:
        """Each record's value of an attribute key ('' when absent)."""
        return [r.attributes.get(key, "") for r in self.logs]

    def has_attribute(self, key: str) -> list[bool]:
        return [key in r.attributes for r in self.logs]

    def scan_buffer(self, name: str) -> ScanBuffer | None:
        """Records keep no joined buffer: the matcher joins the column itself."""
        return None

    def attribute_dicts(self) -> list[dict[str, str]]:
        """Each record's own attributes dict (changing one changes the record)."""
        return [r.attributes for r in self.logs]


class BatchColumns:
    """The columns of a ColumnBatch of LogRecord (the ingest hot path): its own lists, handed
    out as they are (the matcher only reads them), nothing read off a record."""

    def __init__(self, batch: ColumnBatch):
        self.cols = batch.cols

    def __len__(self) -> int:
        return len(self.cols["body"])

    def column(self, name: str) -> list[str]:
        """A stored column by name (`body`, `severity_text`, …)."""
        if name not in RECORD_READERS:
            raise KeyError(name)
        return self.cols[name]

    def severity_numbers(self) -> list[int]:
        return self.cols["severity_number"]

    def attribute(self, key: str) -> list[str]:
        """Each log's value of an attribute key ('' when absent)."""
        return [a.get(key, "") for a in self.cols["attributes"]]

    def has_attribute(self, key: str) -> list[bool]:
        return [key in a for a in self.cols["attributes"]]

    def scan_buffer(self, name: str) -> ScanBuffer | None:
        """No joined buffer is kept: the matcher joins the column itself."""
        return None

    def attribute_dicts(self) -> list[dict[str, str]]:
        """Each log's attributes dict (the column itself)."""
        return self.cols["attributes"]


class TextColumns:
    """A batch of free-text lines, parsed lazily per column (see the module docstring)."""

    def __init__(self, lines: list[str] | None, default_tz: str = "UTC", buffer: ScanBuffer | None = None):
        self._lines = lines
        self._buffer = buffer
        self.tz = default_tz
        self._levels: tuple[list[str], list[int]] | None = None
        self._ids: tuple[list[str], list[str]] | None = None
        self._late: list[str] | None = None
        self._blanks: tuple[list[str], list[bool]] | None = None

    @classmethod
    def from_block(cls, block: bytes, default_tz: str = "UTC") -> TextColumns:
        """The lines of a raw block (newline-separated, none at the end), kept as the
        matcher's scan buffer: no string per line unless a rule reads more than the body."""
        return cls(None, default_tz, scan_buffer(block))

    @property
    def lines(self) -> list[str]:
        """Each line's text (decoded from the block on first use)."""
        if self._lines is None:
            self._lines = buffer_lines(self.buffer())
        return self._lines

    def __len__(self) -> int:
        return len(self._lines) if self._lines is not None else len(self.buffer()[1]) - 1

    def scan_buffer(self, name: str) -> ScanBuffer | None:
        """The body's joined buffer (shared with level and id detection)."""
        return self.buffer() if name == "body" else None

    def column(self, name: str) -> list[str]:
        if name == "body":
            return self.lines
        if name == "severity_text":
            return self._level_columns()[0]
        if name in ("trace_id", "span_id"):
            ids = self._id_columns()
            return ids[0] if name == "trace_id" else ids[1]
        if name in RECORD_READERS:  # service, host, instance: free text names none
            return [""] * len(self)
        raise KeyError(name)

    def severity_numbers(self) -> list[int]:
        return self._level_columns()[1]

    def attribute(self, key: str) -> list[str]:
        if key == OUT_OF_RANGE_ATTR:
            return self._late_times()
        return self._blank()[0]

    def has_attribute(self, key: str) -> list[bool]:
        if key == OUT_OF_RANGE_ATTR:
            return [bool(v) for v in self._late_times()]
        return self._blank()[1]

    def _blank(self) -> tuple[list[str], list[bool]]:
        """The column of every attribute free text never sets, one list for all of them
        (the matcher then judges it once per batch; callers must not modify it)."""
        if self._blanks is None:
            self._blanks = [""] * len(self), [False] * len(self)
        return self._blanks

    def buffer(self) -> ScanBuffer:
        """The lines joined for Hyperscan (the block's own, or built once from the lines)."""
        if self._buffer is None:
            self._buffer = buffer_of(self.lines)
        return self._buffer

    def _level_columns(self) -> tuple[list[str], list[int]]:
        """(severity_text, severity_number) of each line: a level word near its start."""
        if self._levels is None:
            self._levels = detect.levels(self.buffer(), self.lines)
        return self._levels

    def _id_columns(self) -> tuple[list[str], list[str]]:
        """(trace_id, span_id) mentioned in each line."""
        if self._ids is None:
            self._ids = detect.trace_ids(self.buffer(), self.lines)
        return self._ids

    def _late_times(self) -> list[str]:
        """The out-of-range attribute parsing would set: a leading time stamp outside the
        accepted range, kept as text (the record's time stays unset). Only lines with a
        clock early enough to end such a stamp are parsed (detect.stamp_lines)."""
        if self._late is None:
            out = [""] * len(self)
            lines = self.lines
            for i in np.flatnonzero(detect.stamp_lines(self.buffer(), TEXT_TIME_MAX_END)).tolist():
                line = lines[i]
                if line:
                    ns, end = find_timestamp(line, self.tz, 0)
                    if ns is not None and end <= TEXT_TIME_MAX_END and ns and not in_range(ns):
                        out[i] = str(ns)
            self._late = out
        return self._late


def lines_batch(lines: list[str]) -> ColumnBatch:
    """Lines as a ColumnBatch of fresh logs (every other field at its LogRecord default), for
    parse_logs to fill in on the columns (the body column is a copy: parsing rewrites it)."""
    n = len(lines)
    return ColumnBatch(LogRecord, {
        "time_ns": [0] * n, "body": list(lines), "severity_number": [0] * n, "severity_text": [""] * n,
        "trace_id": [""] * n, "span_id": [""] * n, "service": [""] * n, "instance": [""] * n, "host": [""] * n,
        "attributes": [{} for _ in range(n)], "resource": [{} for _ in range(n)], "observed_ns": [0] * n,
        "format": [""] * n, "parse_failed": [False] * n, "rules": [[] for _ in range(n)], "id": [""] * n,
        "template_id": [""] * n, "template": [""] * n, "kafka_ns": [0] * n})


Columns = RecordColumns | BatchColumns | TextColumns


def as_columns(batch: Sequence[LogRecord] | ColumnBatch | Columns) -> Columns:
    """A batch as columns: records and ColumnBatches are wrapped, column views pass through."""
    if isinstance(batch, (RecordColumns, BatchColumns, TextColumns)):
        return batch
    if type(batch) is ColumnBatch:
        return BatchColumns(batch)
    return RecordColumns(batch)
