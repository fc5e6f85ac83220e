"""Spans the correlation stage has not written yet, assembled from the raw tables.

A trace is stored in `spans`/`logs`/`metrics` as soon as the worker decodes it, but reaches
`correlated_spans` only once it completes (an inactivity gap), and a late span reaches it only
when the trace is re-emitted. Until then a lookup shows those spans from the raw rows: logs
placed by span id or time, metric readings looked up around the span, times corrected by the
host's offset when one is known.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

import orjson

from pipeline.api.reads import Reader
from pipeline.model import SPAN_KIND_NAMES, STATUS_ERROR, STATUS_NAMES

_METRICS_SQL = """
SELECT name, instance, host, time_ns, value
FROM metrics
WHERE time_ns BETWEEN {lo:Int64} AND {hi:Int64}
  AND (has({instances:Array(String)}, instance) OR (instance = '' AND has({hosts:Array(String)}, host)))
ORDER BY time_ns, id
"""
_OFFSETS_SQL = """
SELECT host, argMax(offset_ns, updated_at) AS offset_ns
FROM clock_offsets WHERE has({hosts:Array(String)}, host) GROUP BY host
"""


def status_name(code: int) -> str:
    return STATUS_NAMES[code] if code < len(STATUS_NAMES) else "unset"


def kind_name(kind: int) -> str:
    return SPAN_KIND_NAMES[kind] if kind < len(SPAN_KIND_NAMES) else "unspecified"


def span_events(r: dict) -> list[dict]:
    """A raw span row's events (stored as one JSON document)."""
    return orjson.loads(r["events"]) if r["events"] else []


def raw_span_json(r: dict) -> dict:
    """A raw `spans` row in the API's span shape, on its host's own clock (offset 0 until
    `correct_times`). The fields only correlation computes (self_time_ns, own_error, peer, ...)
    are absent, not guessed; is_error is the span status alone."""
    return {
        "span_id": r["span_id"], "parent_span_id": r["parent_span_id"], "service": r["service"],
        "instance": r["instance"], "host": r["host"], "name": r["name"], "kind": kind_name(r["kind"]),
        "start_ns": r["start_ns"], "end_ns": r["end_ns"],
        "status": status_name(r["status_code"]), "status_message": r["status_message"],
        "clock_offset_ns": 0, "is_error": r["status_code"] == STATUS_ERROR, "correlated": False,
        "attributes": r["attributes"], "events": span_events(r),
        "logs": [], "metrics": {},
    }


def correct_times(reader: Reader, spans: list[dict], known: dict[str, int]) -> None:
    """Move raw spans onto the reference clock: each host's offset from `known` (the same
    trace's correlated spans), else the correlation stage's newest estimate in `clock_offsets`,
    else none. Call after `attach_metrics`, which compares raw times with raw times."""
    missing = sorted({s["host"] for s in spans if s["host"] and s["host"] not in known})
    offsets = dict(known)
    if missing:
        offsets.update((r["host"], r["offset_ns"]) for r in reader.rows(_OFFSETS_SQL, {"hosts": missing}))
    for s in spans:
        off = offsets.get(s["host"], 0)
        s["clock_offset_ns"] = off
        s["start_ns"] -= off
        s["end_ns"] -= off


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
    """Put each log (API shape) on its span: the one its span_id names, else the innermost
    span whose [start - pad, end + pad] holds its time (spans of the log's own service first,
    so a concurrent call in another service does not take it). Returns the logs that fit none."""
    if not spans:
        return list(logs)
    by_id = {s["span_id"]: s for s in spans}
    depth = _depths(spans)
    # Innermost first: deeper in the tree, then shorter.
    order = sorted(range(len(spans)), key=lambda i: (-depth[i], spans[i]["end_ns"] - spans[i]["start_ns"]))
    unattached = []
    for log in logs:
        span = by_id.get(log["span_id"]) if log["span_id"] else None
        if span is None:
            t, svc = log["time_ns"], log["service"]
            fits = [spans[i] for i in order
                    if spans[i]["start_ns"] - pad_ns <= t <= spans[i]["end_ns"] + pad_ns]
            same = [s for s in fits if svc and s["service"] == svc]
            span = (same or fits or [None])[0]
        (span["logs"] if span is not None else unattached).append(log)
    return unattached


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
    # Series keyed by (scope, name), each a time-ordered list (the SQL orders by time); a point
    # stored twice (a replay) only repeats a value.
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
