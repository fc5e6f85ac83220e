"""Spans the correlation stage has not written yet, joined by the engine's own row builder.

A trace is stored in `spans`/`logs`/`metrics` as soon as the worker decodes it, but reaches
`correlated_spans` only once it completes (an inactivity gap), and a late span reaches it only
when the trace is re-emitted. Until then a lookup shows those spans as the engine would write
them now: the raw rows go through `pipeline.correlate.joined_rows.build_rows` with the logs not yet
claimed by a correlated span, the metric readings stored around the spans and each host's
known clock offset, so a pending span and the row later written for it agree (same log and
metric joins, same tie-breaks, same skew correction).
"""

from __future__ import annotations

from collections import defaultdict

import orjson

from pipeline.api.reads import Reader
from pipeline.correlate.engine_config import CorrelateConfig
from pipeline.correlate.metric_index import MetricIndex
from pipeline.correlate.joined_rows import build_rows
from pipeline.model import SPAN_KIND_NAMES, STATUS_NAMES, CorrelatedSpan, Exemplar, LogRecord, MetricPoint, Span
from pipeline.store.queries import traces as q

# How far before the spans stored readings are read: a series sampled more coarsely than the
# metric window joins its covering sample (pipeline.correlate.metric_index), which may be
# this old; the engine's index would hold it too.
_COVER_NS = 300 * 1_000_000_000


def status_name(code: int) -> str:
    return STATUS_NAMES[code] if code < len(STATUS_NAMES) else "unset"


def kind_name(kind: int) -> str:
    return SPAN_KIND_NAMES[kind] if kind < len(SPAN_KIND_NAMES) else "unspecified"


def span_events(r: dict) -> list[dict]:
    """A raw span row's events (stored as one JSON document)."""
    return orjson.loads(r["events"]) if r["events"] else []


def _span(trace_id: str, r: dict) -> Span:
    return Span(trace_id=trace_id, span_id=r["span_id"], parent_span_id=r["parent_span_id"], name=r["name"],
                start_ns=r["start_ns"], end_ns=r["end_ns"], kind=r["kind"], status_code=r["status_code"],
                status_message=r["status_message"], service=r["service"], instance=r["instance"],
                host=r["host"], attributes=dict(r["attributes"]), events=span_events(r))


def _log(trace_id: str, lg: dict) -> LogRecord:
    return LogRecord(time_ns=lg["time_ns"], body=lg["body"], severity_number=lg["severity_number"],
                     severity_text=lg["severity_text"], trace_id=trace_id, span_id=lg["span_id"],
                     service=lg["service"], instance=lg["instance"], host=lg["host"],
                     attributes=dict(lg["attributes"]), format=lg["format"], parse_failed=lg["parse_failed"],
                     rules=list(lg["rules"]), id=lg["id"])


def _offsets(reader: Reader, spans: dict[str, Span], known: dict[str, int]) -> dict[str, int]:
    """Each host's offset: `known` (the trace's correlated spans), else the correlation
    stage's newest estimate in `clock_offsets`, else none."""
    missing = sorted({s.host for s in spans.values() if s.host and s.host not in known})
    offsets = dict(known)
    if missing:
        offsets.update((r["host"], r["offset_ns"]) for r in reader.rows(q.CLOCK_OFFSETS, {"hosts": missing}))
    return offsets


def _metric_index(reader: Reader, trace_id: str, pending: list[Span], offsets: dict[str, int],
                  config: CorrelateConfig) -> MetricIndex:
    """The stored readings the engine would hold for the pending spans' services, and the
    trace's exemplars, in an index of the engine's kind."""
    index = MetricIndex(config)
    shifts = [offsets.get(s.host, 0) for s in pending] + [offsets.get(h, 0) for h in offsets]
    lo = min(s.start_ns for s in pending) - config.metric_window_ns - _COVER_NS - max(map(abs, shifts))
    hi = max(s.end_ns for s in pending) + config.metric_window_ns + max(map(abs, shifts))
    services = sorted({s.service for s in pending})
    points = [MetricPoint(name=p["name"], type=p["type"], time_ns=p["time_ns"], value=p["value"],
                          service=p["service"], instance=p["instance"], host=p["host"],
                          attributes=dict(p["attributes"]),
                          exemplars=[Exemplar(t, v, tid, sid) for t, v, tid, sid in
                                     zip(p["exemplar_times"], p["exemplar_values"], p["exemplar_trace_ids"],
                                         p["exemplar_span_ids"])])
              for p in reader.rows(q.METRICS_NEAR, {"lo": lo, "hi": hi, "services": services, "tid": trace_id})]
    index.add(points)
    return index


def pending_rows(reader: Reader, trace_id: str, raw: dict[str, dict], pending_ids: set[str], logs: list[dict],
                 known_offsets: dict[str, int], config: CorrelateConfig) -> list[CorrelatedSpan]:
    """The rows the engine would write now for the raw spans no correlated row covers yet.

    `raw` is every raw span of the trace (the correlated ones give the pending ones their
    context: parents, children, callers), `pending_ids` those to build; `logs` are the trace's logs no correlated span
    claims, in the API's shape."""
    spans = {sid: _span(trace_id, r) for sid, r in raw.items()}
    pending = [s for sid, s in spans.items() if sid in pending_ids]
    if not pending:
        return []
    offsets = _offsets(reader, spans, known_offsets)
    index = _metric_index(reader, trace_id, pending, offsets, config)
    rows = build_rows(spans, [_log(trace_id, lg) for lg in logs], offsets, index, config, trace_id,
                      defaultdict(int), (False, False, 0, 0))
    return [r for r in rows if r.span_id in pending_ids]
