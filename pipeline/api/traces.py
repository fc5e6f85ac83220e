"""A trace as the API returns it: its correlated spans, with their logs, and any span the
correlation stage has not written yet.

Reads, each narrow: the trace's raw [start, end] from `trace_index` (one primary-key range);
then, within those bounds (so only the partitions and minute buckets holding the trace are
looked at, and the trace_id bloom filters skip the rest), its rows in `correlated_spans` (the
newest version of each: skew-corrected times, offsets, self-time, error flags and metric
readings as the correlation stage decided them), its raw `spans` (attributes and events,
which only the raw rows keep, and spans still in flight), and its logs by trace id. The logs
go where the correlated rows' log_ids put them. Spans not yet correlated are assembled from
the raw tables (pipeline.api.rawspans); a trace with none correlated is shown wholly that way.

No read uses FINAL: on a result one trace in size, keeping the newest version of each
correlated span (a replayed raw row repeats the same content under the same id) in Python is
exact, and it spares the per-query merge FINAL sets up (measured slower on this read).
"""

from __future__ import annotations

from pipeline.api.rawspans import (attach_logs, attach_metrics, correct_times, kind_name, raw_span_json,
                                   span_events, status_name)
from pipeline.api.reads import Reader

NS = 1_000_000_000
# Logs carrying the trace id are looked for this far outside the trace's raw span bounds:
# logs are stamped by their own host's clock, whose skew is bounded far below this, and a
# log far outside is still shown (unattached); the bloom filter keeps the wide range cheap.
LOG_PAD_NS = 600 * NS

_BOUNDS_SQL = """
SELECT min(start_ns) AS lo, max(end_ns) AS hi FROM trace_index
WHERE trace_id = {tid:String} GROUP BY trace_id
"""
_CORRELATED_SQL = """
SELECT span_id, parent_span_id, service, instance, host, name, kind, peer, service_version,
       start_ns, end_ns, clock_offset_ns, self_time_ns, status_code, status_message, is_error,
       own_error, error_sources, rule_ids, log_ids, metrics, version
FROM correlated_spans
WHERE trace_id = {tid:String} AND orig_start_ns BETWEEN {lo:Int64} AND {hi:Int64}
"""
_SPANS_SQL = """
SELECT span_id, parent_span_id, service, instance, host, name, kind, start_ns, end_ns,
       status_code, status_message, attributes, events
FROM spans
WHERE trace_id = {tid:String} AND start_ns BETWEEN {lo:Int64} AND {hi:Int64}
"""
_LOGS_SQL = """
SELECT id, time_ns, service, instance, host, span_id, severity_number, severity_text, body,
       attributes, format, parse_failed, rules
FROM logs
WHERE trace_id = {tid:String} AND time_ns BETWEEN {lo:Int64} AND {hi:Int64}
"""


def fetch_trace(reader: Reader, trace_id: str, log_window_s: float = 1.0,
                metric_window_s: float = 2.0) -> dict | None:
    """The trace, or None when no span of it is stored. `log_window_s`/`metric_window_s` only
    place logs and readings on spans not yet correlated (the correlation stage placed the rest)."""
    bounds = reader.rows(_BOUNDS_SQL, {"tid": trace_id})
    if not bounds:
        return None
    lo, hi = bounds[0]["lo"], bounds[0]["hi"]
    where = {"tid": trace_id, "lo": lo, "hi": hi}
    correlated: dict[str, dict] = {}
    for r in reader.rows(_CORRELATED_SQL, where):
        seen = correlated.get(r["span_id"])
        if seen is None or r["version"] > seen["version"]:
            correlated[r["span_id"]] = r
    raw = {r["span_id"]: r for r in reader.rows(_SPANS_SQL, where)}
    if not correlated and not raw:
        return None
    logs = {r["id"]: _log_json(r) for r in reader.rows(
        _LOGS_SQL, {"tid": trace_id, "lo": lo - LOG_PAD_NS, "hi": hi + LOG_PAD_NS})}

    spans = []
    for sid, row in correlated.items():
        span = _correlated_json(row, raw.get(sid))
        span["logs"] = sorted((logs.pop(i) for i in row["log_ids"] if i in logs),
                              key=lambda lg: (lg["time_ns"], lg["id"]))
        spans.append(span)
    pending = [raw_span_json(r) for sid, r in raw.items() if sid not in correlated]
    if pending:
        attach_metrics(reader, pending, int(metric_window_s * NS))
        correct_times(reader, pending, {s["host"]: s["clock_offset_ns"] for s in spans})
    rest = sorted(logs.values(), key=lambda lg: (lg["time_ns"], lg["id"]))
    unattached = attach_logs(pending, rest, int(log_window_s * NS))
    spans.extend(pending)
    spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
    return {"trace_id": trace_id, "spans": spans, "unattached_logs": unattached}


def _correlated_json(r: dict, raw: dict | None) -> dict:
    return {
        "span_id": r["span_id"], "parent_span_id": r["parent_span_id"], "service": r["service"],
        "instance": r["instance"], "host": r["host"], "name": r["name"], "kind": kind_name(r["kind"]),
        "peer": r["peer"], "service_version": r["service_version"],
        "start_ns": r["start_ns"], "end_ns": r["end_ns"],
        "status": status_name(r["status_code"]), "status_message": r["status_message"],
        "clock_offset_ns": r["clock_offset_ns"], "self_time_ns": r["self_time_ns"],
        "is_error": bool(r["is_error"]), "own_error": bool(r["own_error"]),
        "error_sources": list(r["error_sources"]), "rule_ids": list(r["rule_ids"]),
        "correlated": True,
        "attributes": raw["attributes"] if raw else {},
        "events": span_events(raw) if raw else [],
        "logs": [], "metrics": dict(r["metrics"]),
    }


def _log_json(r: dict) -> dict:
    return {"id": r["id"], "time_ns": r["time_ns"], "service": r["service"], "instance": r["instance"],
            "host": r["host"], "span_id": r["span_id"], "severity_number": r["severity_number"],
            "severity_text": r["severity_text"], "body": r["body"], "attributes": r["attributes"],
            "format": r["format"], "parse_failed": bool(r["parse_failed"]), "rules": list(r["rules"])}
