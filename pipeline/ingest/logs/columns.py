"""Log batches as columns: what the rule matcher reads, one list per field, not one object per line.

`RecordColumns` reads the columns off parsed `LogRecord`s (the worker's path). `TextColumns`
is a batch of free-text lines (`--format text`) that derives each column only when a rule
reads it: the body is the line itself, so rules on the message need no parsing at all, and
level, trace id and the out-of-range time attribute are computed, for the whole batch, only
for rule sets that ask for them. Every value equals what `parse_logs(…, "text")` would store
on a fresh record, because it is computed by the same functions.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence

from pipeline.ingest.decode.timebounds import OUT_OF_RANGE_ATTR, in_range
from pipeline.ingest.logs import severity
from pipeline.ingest.logs.formats import TEXT_LEVEL_RE, TEXT_TIME_MAX_END
from pipeline.ingest.logs.timestamps import find_timestamp
from pipeline.ingest.logs.traceids import extract_ids
from pipeline.model import LogRecord

_TRACE = re.compile("trace", re.I)


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


class TextColumns:
    """A batch of free-text lines, parsed lazily per column (see the module docstring)."""

    def __init__(self, lines: list[str], default_tz: str = "UTC"):
        self.lines = lines
        self.tz = default_tz
        self._levels: tuple[list[str], list[int]] | None = None
        self._ids: tuple[list[str], list[str]] | None = None
        self._late: list[str] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> list[str]:
        if name == "body":
            return self.lines
        if name == "severity_text":
            return self._level_columns()[0]
        if name in ("trace_id", "span_id"):
            ids = self._id_columns()
            return ids[0] if name == "trace_id" else ids[1]
        if name in RECORD_READERS:  # service, host, instance: free text names none
            return [""] * len(self.lines)
        raise KeyError(name)

    def severity_numbers(self) -> list[int]:
        return self._level_columns()[1]

    def attribute(self, key: str) -> list[str]:
        if key == OUT_OF_RANGE_ATTR:
            return self._late_times()
        return [""] * len(self.lines)

    def has_attribute(self, key: str) -> list[bool]:
        if key == OUT_OF_RANGE_ATTR:
            return [bool(v) for v in self._late_times()]
        return [False] * len(self.lines)

    def _level_columns(self) -> tuple[list[str], list[int]]:
        """(severity_text, severity_number) of each line: a level word near its start."""
        if self._levels is None:
            search = TEXT_LEVEL_RE.search
            from_name, name_of = severity.from_name, severity.severity_name
            texts: list[str] = []
            numbers: list[int] = []
            for line in self.lines:
                m = search(line, 0, 80)
                n = from_name(m.group(1) or m.group(2)) if m else 0
                numbers.append(n)
                texts.append(name_of(n))
            self._levels = texts, numbers
        return self._levels

    def _id_columns(self) -> tuple[list[str], list[str]]:
        """(trace_id, span_id) mentioned in each line. Only lines that contain the word
        'trace' can name one: one regex pass over the joined batch finds them (ASCII batches;
        others are checked line by line)."""
        if self._ids is None:
            lines = self.lines
            n = len(lines)
            traces, spans = [""] * n, [""] * n
            joined = "\n".join(lines)
            if joined.isascii():
                starts = [0] * n
                pos = 0
                for i, line in enumerate(lines):
                    starts[i] = pos
                    pos += len(line) + 1
                candidates = sorted({_line_at(starts, m.start()) for m in _TRACE.finditer(joined)})
            else:
                candidates = range(n)
            for i in candidates:
                t, s = extract_ids(lines[i])
                if t:
                    traces[i], spans[i] = t, s
            self._ids = traces, spans
        return self._ids

    def _late_times(self) -> list[str]:
        """The out-of-range attribute parsing would set: a leading time stamp outside the
        accepted range, kept as text (the record's time stays unset)."""
        if self._late is None:
            out = []
            for line in self.lines:
                v = ""
                if line:
                    ns, end = find_timestamp(line, self.tz, 0)
                    if ns is not None and end <= TEXT_TIME_MAX_END and ns and not in_range(ns):
                        v = str(ns)
                out.append(v)
            self._late = out
        return self._late


def _line_at(starts: list[int], offset: int) -> int:
    """Index of the line whose text holds `offset` (starts ascending)."""
    return bisect_right(starts, offset) - 1


Columns = RecordColumns | TextColumns


def as_columns(batch: Sequence[LogRecord] | Columns) -> Columns:
    """A batch as columns: records are wrapped, column batches pass through."""
    if isinstance(batch, (RecordColumns, TextColumns)):
        return batch
    return RecordColumns(batch)
