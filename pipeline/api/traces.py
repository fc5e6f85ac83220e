"""A trace with its logs and metric readings, assembled from the raw tables.

Three narrow reads: the trace's [start, end] from `trace_index` (one primary-key range),
its spans within those bounds (so only the partitions holding them are read), and its logs
by trace id; then one read of the metric points on the trace's instances and hosts around
it. Joining is done here, in memory, on a result that is one trace in size.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

import orjson

from pipeline.api.reads import Reader
from pipeline.model import SPAN_KIND_NAMES, STATUS_NAMES

NS = 1_000_000_000
# Logs carrying the trace id are looked for this far outside the trace's span bounds: clock
# skew between hosts is bounded far below it, and a day partition bounds the cost anyway.
LOG_PAD_NS = 600 * NS

_SPANS_SQL = """
SELECT span_id, parent_span_id, service, instance, host, name, kind, start_ns, end_ns,
       status_code, status_message, attributes, events
FROM spans FINAL
WHERE trace_id = {tid:String} AND start_ns BETWEEN {lo:Int64} AND {hi:Int64}
ORDER BY start_ns, span_id
"""
_LOGS_SQL = """
SELECT id, time_ns, service, instance, host, span_id, severity_number, severity_text, body,
       attributes, format, parse_failed, rules
FROM logs FINAL
WHERE trace_id = {tid:String} AND time_ns BETWEEN {lo:Int64} AND {hi:Int64}
ORDER BY time_ns, id
"""
_METRICS_SQL = """
SELECT name, instance, host, time_ns, value
FROM metrics FINAL
WHERE time_ns BETWEEN {lo:Int64} AND {hi:Int64}
  AND (has({instances:Array(String)}, instance) OR (instance = '' AND has({hosts:Array(String)}, host)))
ORDER BY time_ns, id
"""


def fetch_trace(reader: Reader, trace_id: str, log_window_s: float = 1.0,
                metric_window_s: float = 2.0) -> dict | None:
    """The trace as the API returns it, or None when no span of it is stored."""
    bounds = reader.rows("SELECT min(start_ns) AS lo, max(end_ns) AS hi FROM trace_index "
                         "WHERE trace_id = {tid:String} GROUP BY trace_id", {"tid": trace_id})
    if not bounds:
        return None
    lo, hi = bounds[0]["lo"], bounds[0]["hi"]
    rows = reader.rows(_SPANS_SQL, {"tid": trace_id, "lo": lo, "hi": hi})
    if not rows:
        return None
    spans = [_span_json(r) for r in rows]
    logs = reader.rows(_LOGS_SQL, {"tid": trace_id, "lo": lo - LOG_PAD_NS, "hi": hi + LOG_PAD_NS})
    unattached = attach_logs(spans, logs, int(log_window_s * NS))
    attach_metrics(reader, spans, int(metric_window_s * NS))
    return {"trace_id": trace_id, "spans": spans, "unattached_logs": unattached}


def _span_json(r: dict) -> dict:
    kind, status = r["kind"], r["status_code"]
    return {
        "span_id": r["span_id"], "parent_span_id": r["parent_span_id"], "service": r["service"],
        "instance": r["instance"], "host": r["host"], "name": r["name"],
        "start_ns": r["start_ns"], "end_ns": r["end_ns"],
        "status": STATUS_NAMES[status] if status < len(STATUS_NAMES) else "unset",
        "status_message": r["status_message"],
        "kind": SPAN_KIND_NAMES[kind] if kind < len(SPAN_KIND_NAMES) else "unspecified",
        # Raw spans are uncorrected; the correlation stage supplies per-host offsets.
        "clock_offset_ns": 0,
        "attributes": r["attributes"],
        "events": orjson.loads(r["events"]) if r["events"] else [],
        "logs": [], "metrics": {},
    }


def _depths(spans: list[dict]) -> list[int]:
    parent_of = {s["span_id"]: s["parent_span_id"] for s in spans}
    out = []
    for s in spans:
        depth, seen, cur = 0, {s["span_id"]}, s["parent_span_id"]
        while cur in parent_of and cur not in seen:  # a cycle in bad data must not hang us
            seen.add(cur)
            depth += 1
            cur = parent_of[cur]
        out.append(depth)
    return out


def attach_logs(spans: list[dict], logs: list[dict], pad_ns: int) -> list[dict]:
    """Put each log on its span: the one its span_id names, else the innermost span whose
    [start - pad, end + pad] holds its time (spans of the log's own service first, so a
    concurrent call in another service does not take it). Returns the logs that fit none."""
    by_id = {s["span_id"]: s for s in spans}
    depth = _depths(spans)
    # Innermost first: deeper in the tree, then shorter.
    order = sorted(range(len(spans)), key=lambda i: (-depth[i], spans[i]["end_ns"] - spans[i]["start_ns"]))
    unattached = []
    for log in logs:
        item = _log_json(log)
        span = by_id.get(log["span_id"]) if log["span_id"] else None
        if span is None:
            t, svc = log["time_ns"], log["service"]
            fits = [spans[i] for i in order
                    if spans[i]["start_ns"] - pad_ns <= t <= spans[i]["end_ns"] + pad_ns]
            same = [s for s in fits if svc and s["service"] == svc]
            span = (same or fits or [None])[0]
        (span["logs"] if span is not None else unattached).append(item)
    return unattached


def _log_json(r: dict) -> dict:
    return {"id": r["id"], "time_ns": r["time_ns"], "service": r["service"], "instance": r["instance"],
            "host": r["host"], "span_id": r["span_id"], "severity_number": r["severity_number"],
            "severity_text": r["severity_text"], "body": r["body"], "attributes": r["attributes"],
            "format": r["format"], "parse_failed": bool(r["parse_failed"]), "rules": list(r["rules"])}


def attach_metrics(reader: Reader, spans: list[dict], window_ns: int) -> None:
    """Give each span the latest reading per metric name on its instance (or, for metrics
    with no instance, its host) within ±window of the span; an instance reading wins over a
    host-level one of the same name."""
    instances = sorted({s["instance"] for s in spans if s["instance"]})
    hosts = sorted({s["host"] for s in spans if s["host"]})
    if not instances and not hosts:
        return
    lo = min(s["start_ns"] for s in spans) - window_ns
    hi = max(s["end_ns"] for s in spans) + window_ns
    points = reader.rows(_METRICS_SQL, {"lo": lo, "hi": hi, "instances": instances, "hosts": hosts})
    # Series keyed by (scope, name), each a time-ordered list (the SQL orders by time).
    series: dict[tuple[str, str], dict[str, tuple[list[int], list[float]]]] = defaultdict(dict)
    for p in points:
        key = ("i", p["instance"]) if p["instance"] else ("h", p["host"])
        times, values = series[key].setdefault(p["name"], ([], []))
        times.append(p["time_ns"])
        values.append(p["value"])
    for s in spans:
        lo_s, hi_s = s["start_ns"] - window_ns, s["end_ns"] + window_ns
        scopes = [("h", s["host"])] + ([("i", s["instance"])] if s["instance"] else [])
        for scope in scopes:  # instance last, so its readings overwrite the host's
            for name, (times, values) in series.get(scope, {}).items():
                i = bisect.bisect_right(times, hi_s) - 1
                if i >= 0 and times[i] >= lo_s:
                    s["metrics"][name] = values[i]
