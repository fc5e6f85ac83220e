"""A trace as the API returns it: its correlated spans, with their logs, and any span the
correlation stage has not written yet.

One read: the trace's rows in `trace_docs` (schemas/005), where materialized views keep every
raw span, correlated span and log with a trace id as a JSON document, sorted by trace id. The
wide tables sort by service and time, so reading a trace there took three reads (correlated,
raw, logs) plus the time bounds, each decompressing a granule of every column shown; this is
one primary-key read of four narrow columns. Correlated rows bring skew-corrected times,
offsets, self-time, error flags and metric readings as the correlation stage decided them
(the newest version of each span: amendments and replays leave older twins until a merge);
raw rows bring attributes and events, and the spans still in flight. The logs go where the
correlated rows' log_ids put them. Spans not yet correlated are built from the raw rows by the
engine's own row builder (pipeline.api.rawspans), so they show what their correlated rows
will hold; a trace with none correlated is shown wholly that way.
"""

from __future__ import annotations

import orjson

from pipeline.api.rawspans import kind_name, pending_rows, span_events, status_name
from pipeline.api.reads import Reader
from pipeline.correlate.engine_config import CorrelateConfig
from pipeline.model import CorrelatedSpan
from pipeline.store.queries.traces import TRACE_DOCS
from pipeline.store.tables import doc_fields

NS = 1_000_000_000

# The fields of each kind of document, in the order schemas/005_trace_docs.sql writes them.
SPAN_FIELDS = doc_fields("span")
CORRELATED_FIELDS = doc_fields("correlated")
LOG_FIELDS = doc_fields("log")


def read_docs(reader: Reader, trace_id: str) -> tuple[dict[str, dict], dict[str, dict], dict[str, dict]]:
    """The trace's correlated spans (newest version of each), raw spans and logs, by id, as
    rows shaped like their source tables'."""
    correlated: dict[str, dict] = {}
    raw: dict[str, dict] = {}
    logs: dict[str, dict] = {}
    for r in reader.rows(TRACE_DOCS, {"tid": trace_id}):
        kind, rid = r["kind"], r["id"]
        if kind == "correlated":
            seen = correlated.get(rid)
            if seen is None or r["version"] > seen["version"]:
                correlated[rid] = {"span_id": rid, "version": r["version"],
                                   **dict(zip(CORRELATED_FIELDS, orjson.loads(r["doc"])))}
        elif kind == "span":
            raw[rid] = {"span_id": rid, **dict(zip(SPAN_FIELDS, orjson.loads(r["doc"])))}
        else:
            logs[rid] = {"id": rid, **dict(zip(LOG_FIELDS, orjson.loads(r["doc"])))}
    return correlated, raw, logs


def fetch_trace(reader: Reader, trace_id: str, log_window_s: float = 1.0,
                metric_window_s: float = 2.0) -> dict | None:
    """The trace, or None when no span of it is stored. `log_window_s`/`metric_window_s` only
    place logs and readings on spans not yet correlated (the correlation stage placed the rest)."""
    correlated, raw, log_rows = read_docs(reader, trace_id)
    if not correlated and not raw:
        return None
    logs = {i: _log_json(r) for i, r in log_rows.items()}

    spans = []
    for sid, row in correlated.items():
        span = _correlated_json(row, raw.get(sid))
        span["logs"] = sorted((logs.pop(i) for i in row["log_ids"] if i in logs),
                              key=lambda lg: (lg["time_ns"], lg["id"]))
        spans.append(span)
    rest = sorted(logs.values(), key=lambda lg: (lg["time_ns"], lg["id"]))
    config = CorrelateConfig(log_window_ns=int(log_window_s * NS), metric_window_ns=int(metric_window_s * NS))
    known = {s["host"]: s["clock_offset_ns"] for s in spans}
    pending = []
    for row in pending_rows(reader, trace_id, raw, set(raw) - set(correlated), rest, known, config):
        span = _correlated_json(_doc_row(row), raw[row.span_id])
        span["correlated"] = False
        span["logs"] = [logs.pop(i) for i in row.log_ids]
        pending.append(span)
    unattached = sorted(logs.values(), key=lambda lg: (lg["time_ns"], lg["id"]))
    spans.extend(pending)
    spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
    return {"trace_id": trace_id, "spans": spans, "unattached_logs": unattached}


def _doc_row(r: CorrelatedSpan) -> dict:
    """An engine row in the shape `read_docs` gives a stored one, so both render alike."""
    return {"span_id": r.span_id, "version": r.version, **{f: getattr(r, f) for f in CORRELATED_FIELDS}}


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
