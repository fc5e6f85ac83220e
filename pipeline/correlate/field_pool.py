"""One copy of the values that repeat across the records the correlation engine buffers.

Every span and log read from a by-trace message comes with its own copy of its resource
(six or so attributes), its service, instance and host names, its trace id and, for spans,
attributes that mostly repeat per operation. The engine holds records for the lateness bound
(300 s) so a late span can amend its trace, and at the default caps that buffer was most of
a worker's memory (benchmarks/memory.py: 1,933 bytes per buffered record on the shop, 3.6
GiB at max_buffered_records). Pointing equal values at one shared object changes no value,
only how many copies exist. Nothing downstream of the engine mutates a buffered record's
dicts (rows are built from them, read only), so sharing them is safe.

A value is shared only after an equality check against the kept copy (a cheap lookup key
finds the candidate), so a resource or attribute set that differs is never replaced. The
pools are bounded; past the bound new keys are simply not pooled.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.model import LogRecord, Span

# Distinct (service, instance, host) and (service, span name) keys kept: far above what one
# worker sees (instances x operations), small next to the buffer it saves.
POOL_LIMIT = 50_000


class FieldPool:
    """Shares equal resources, host names, trace ids and span attributes between records."""

    __slots__ = ("_origin", "_attrs", "_log_attrs", "_strings")

    def __init__(self) -> None:
        # (service, instance, host) -> (service, instance, host, resource)
        self._origin: dict[tuple[str, str, str], tuple[str, str, str, dict]] = {}
        # (service, span name) -> the attributes last seen with it; logs by (service, format)
        self._attrs: dict[tuple[str, str], dict] = {}
        self._log_attrs: dict[tuple[str, str], dict] = {}
        # repeated strings: span names; logs' format, severity text, template and its id
        self._strings: dict[str, str] = {}

    def share_spans(self, spans: Sequence[Span]) -> None:
        """Point each span's repeated fields at the pooled copy of an equal value."""
        _share_common(spans, self._origin)
        strings: dict = self._strings
        if len(strings) < POOL_LIMIT:
            for s in spans:
                s.name = strings.setdefault(s.name, s.name)
        _share_attrs(spans, [s.name for s in spans], self._attrs)

    def share_logs(self, logs: Sequence[LogRecord]) -> None:
        """Point each log's repeated fields at the pooled copy of an equal value."""
        _share_common(logs, self._origin)
        strings: dict = self._strings
        if len(strings) < POOL_LIMIT:
            for r in logs:
                r.format = strings.setdefault(r.format, r.format)
                r.severity_text = strings.setdefault(r.severity_text, r.severity_text)
                r.template = strings.setdefault(r.template, r.template)
                r.template_id = strings.setdefault(r.template_id, r.template_id)
        _share_attrs(logs, [r.format for r in logs], self._log_attrs)


def _share_common(records: Sequence[Span] | Sequence[LogRecord], origin: dict) -> None:
    """Trace ids within the batch; service, instance and host names and the resource per
    (service, instance, host)."""
    tids: dict = {}
    kept: tuple
    for r in records:
        tid = r.trace_id
        r.trace_id = tids.setdefault(tid, tid)
        key = (r.service, r.instance, r.host)
        kept = origin.get(key)
        if kept is None:
            if len(origin) < POOL_LIMIT:
                origin[key] = (r.service, r.instance, r.host, r.resource)
            continue
        r.service, r.instance, r.host = kept[0], kept[1], kept[2]
        res = r.resource
        if kept[3] is not res:
            if kept[3] == res:
                r.resource = kept[3]
            else:
                origin[key] = (kept[0], kept[1], kept[2], res)


def _share_attrs(records: Sequence[Span] | Sequence[LogRecord], names: list, attrs: dict) -> None:
    """Attributes per (service, name): a span's name, a log's format. The newest set seen is
    kept when one differs (the likeliest to repeat)."""
    for r, name in zip(records, names):
        key = (r.service, name)
        kept = attrs.get(key)
        a = r.attributes
        if kept is None:
            if len(attrs) < POOL_LIMIT:
                attrs[key] = a
        elif kept is not a:
            if kept == a:
                r.attributes = kept
            else:
                attrs[key] = a
