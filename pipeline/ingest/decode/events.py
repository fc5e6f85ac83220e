"""Flat JSON lines (`telemetry.events`): one JSON object per line, `"signal"` says which record.

The format is schemas/event.schema.json; it is checked here by hand (fast, and with reasons
that name the line and field) rather than with a schema validator. Field names are the model's;
times are integer nanoseconds, decimal strings of them, or RFC 3339 text with an offset.
"""

from __future__ import annotations

import math

import orjson

from pipeline.ingest.decode import enums
from pipeline.ingest.decode.jsonfields import enum, is_decimal, items, obj, string, unsigned
from pipeline.ingest.decode.records import (LogIds, Resource, Shape, finite, log_rows_into, make_exemplar, make_span,
                                            plain_shape, point_row, text_id)
from pipeline.ingest.decode.result import DecodeResult, MessageError, RecordError
from pipeline.ingest.decode.times import rfc3339_ns
from pipeline.ingest.decode.values import attr_text, describe, json_double, json_int, short, to_text
from pipeline.model import METRIC_TYPES, Span

_KINDS = {**enums.SPAN_KIND, **{n: i for i, n in enumerate(
    ("unspecified", "internal", "server", "client", "producer", "consumer"))}}
_STATUS = {**enums.STATUS_CODE, "unset": 0, "ok": 1, "error": 2}
_TEMPORALITY = {**enums.TEMPORALITY, "unspecified": 0, "delta": 1, "cumulative": 2}
# Severity text -> number when only the text is given (the first number of each OTLP range).
_SEVERITY_TEXT = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "NOTICE": 10, "WARN": 13, "WARNING": 13,
                  "ERROR": 17, "ERR": 17, "CRITICAL": 21, "FATAL": 21, "ALERT": 22, "EMERGENCY": 23}
# make_span/LogIds/point_row name fields the OTLP way; reasons here use this format's names.
_FIELD_NAMES = {"traceId": "trace_id", "spanId": "span_id", "parentSpanId": "parent_span_id",
                "startTimeUnixNano": "start", "endTimeUnixNano": "end", "status.code": "status",
                "timeUnixNano": "time", "severityNumber": "severity_number"}


def event_time(v: object, field: str) -> int:
    """Nanoseconds from an integer, a decimal string or RFC 3339 text; 0 when absent."""
    if v is None:
        return 0
    t = type(v)
    if t is int and v >= 0:  # type: ignore[operator]
        return v  # type: ignore[return-value]
    if t is str:
        if is_decimal(v):  # type: ignore[arg-type]
            return int(v)  # type: ignore[arg-type]
        n = rfc3339_ns(v)  # type: ignore[arg-type]
        if n is not None and n >= 0:
            return n
    raise RecordError(field, f"{short(v)} is not a time (nanoseconds, or RFC 3339 text with an offset)")


def _attrs(v: object, field: str) -> dict[str, str]:
    return {k: attr_text(x) for k, x in obj(v, field).items()}


def _resource(ev: dict) -> Resource:
    res = Resource(_attrs(ev.get("resource"), "resource"))
    for name in ("service", "instance", "host"):
        given = string(ev.get(name), name)
        if given:
            setattr(res, name, given)
    return res


def _span(ev: dict) -> Span:
    events = []
    for n, e in enumerate(items(ev.get("events"), "events")):
        where = f"events[{n}]"
        e = obj(e, where)
        events.append({"time_ns": event_time(e.get("time"), where + ".time"),
                       "name": string(e.get("name"), where + ".name"),
                       "attributes": _attrs(e.get("attributes"), where + ".attributes")})
    return make_span(
        text_id(ev.get("trace_id"), "trace_id", 16), text_id(ev.get("span_id"), "span_id", 8),
        text_id(ev.get("parent_span_id"), "parent_span_id", 8), string(ev.get("name"), "name"),
        event_time(ev.get("start"), "start"), event_time(ev.get("end"), "end"),
        enum(ev.get("kind"), _KINDS, "kind"), enum(ev.get("status"), _STATUS, "status"),
        attr_text(string(ev.get("status_message"), "status_message")),
        _attrs(ev.get("attributes"), "attributes"), events, _resource(ev))


def _log(ev: dict, kafka_ns: int, ids: LogIds) -> tuple:
    """The log's row for the logs' columns (records.LogIds.row)."""
    severity = ev.get("severity")
    text = ""
    number = ev.get("severity_number")
    if number is not None and type(number) is not int:
        raise RecordError("severity_number", f"is {describe(number)}, expected an integer")
    if type(severity) is str:
        text = severity
        if number is None:
            number = _SEVERITY_TEXT.get(severity.upper(), 0)
    elif type(severity) is int and number is None:
        number = severity
    elif severity is not None:
        raise RecordError("severity", f"is {describe(severity)}, expected a name or a number")
    body = ev.get("body")
    return ids.row(event_time(ev.get("time"), "time"), event_time(ev.get("observed_time"), "observed_time"),
                   kafka_ns, number or 0, text, "" if body is None else to_text(body),
                   ev.get("trace_id"), ev.get("span_id"), _attrs(ev.get("attributes"), "attributes"),
                   _resource(ev))


def _numbers(v: object, field: str) -> list[float]:
    return [json_double(x, field) for x in items(v, field)]


def _counts(v: object, field: str) -> list[int]:
    return [unsigned(x, field) for x in items(v, field)]


def _metric(ev: dict) -> tuple:
    """The point's row for the points' columns (records.point_row)."""
    name = string(ev.get("name"), "name")
    if not name:
        raise RecordError("name", "missing")
    mtype = ev.get("type")
    if mtype not in METRIC_TYPES:
        raise RecordError("type", f"{short(mtype)} is not one of {', '.join(METRIC_TYPES)}")
    monotonic = ev.get("is_monotonic", False)
    if type(monotonic) is not bool:
        raise RecordError("is_monotonic", "is not true/false")
    time_ns = event_time(ev.get("time"), "time")
    start = event_time(ev.get("start_time"), "start_time")
    unit = string(ev.get("unit"), "unit")
    attrs = _attrs(ev.get("attributes"), "attributes")
    temporality = enum(ev.get("temporality"), _TEMPORALITY, "temporality")
    if mtype in ("gauge", "sum"):
        if ev.get("value") is None:
            raise RecordError("value", "missing")
        value = json_double(ev["value"], "value")
        shape = plain_shape()
    else:
        value, shape = _shape(ev)
    exemplars = []
    for n, e in enumerate(items(ev.get("exemplars"), "exemplars")):
        where = f"exemplars[{n}]"
        e = obj(e, where)
        exemplars.append(make_exemplar(event_time(e.get("time"), where + ".time"),
                                       json_double(e.get("value", 0.0), where + ".value"),
                                       text_id(e.get("trace_id"), where + ".trace_id", 16),
                                       text_id(e.get("span_id"), where + ".span_id", 8), where))
    return point_row(name, mtype, time_ns, value, start, unit, attrs, monotonic, temporality, shape, exemplars,
                     _resource(ev))


def _shape(ev: dict) -> tuple[float, Shape]:
    """A histogram's, exponential histogram's or summary's value and own fields."""
    count = unsigned(ev.get("count"), "count")
    total = finite(json_double(ev.get("sum", 0.0), "sum"), "sum")
    value = json_double(ev["value"], "value") if ev.get("value") is not None else total
    low, high = (json_double(ev[side], side) if ev.get(side) is not None else None for side in ("min", "max"))
    bounds = _numbers(ev.get("bucket_bounds"), "bucket_bounds")
    counts = _counts(ev.get("bucket_counts"), "bucket_counts")
    scale = json_int(ev.get("scale", 0), "scale")
    zero = unsigned(ev.get("zero_count"), "zero_count")
    pos_offset = json_int(ev.get("positive_offset", 0), "positive_offset")
    pos_counts = _counts(ev.get("positive_counts"), "positive_counts")
    neg_offset = json_int(ev.get("negative_offset", 0), "negative_offset")
    neg_counts = _counts(ev.get("negative_counts"), "negative_counts")
    quantiles = []
    for n, pair in enumerate(items(ev.get("quantiles"), "quantiles")):
        if type(pair) is not list or len(pair) != 2:
            raise RecordError(f"quantiles[{n}]", "expected a [quantile, value] pair")
        q, v = json_double(pair[0], f"quantiles[{n}]"), json_double(pair[1], f"quantiles[{n}]")
        if not math.isnan(v):
            quantiles.append((q, v))
    return value, (count, total, low, high, bounds, counts, scale, zero, pos_offset, pos_counts, neg_offset,
                   neg_counts, quantiles)


def decode_events(value: bytes, kafka_ns: int, out: DecodeResult, errors: list[str], max_lines: int = 0) -> None:
    """Add the records of every line of one message to `out`; bad lines add to `errors`.
    With `max_lines`, lines past that many are not read (not even split) and `errors` says so."""
    ids = LogIds()
    spans: list[Span] = []
    logs: list[tuple] = []
    points: list[tuple] = []
    seen = False
    lines = value.split(b"\n", max_lines) if max_lines else value.split(b"\n")
    if max_lines and len(lines) > max_lines and lines.pop().strip():
        errors.append(f"more than {max_lines} lines in one message (max_records_per_message): "
                      "the rest were not read")
    for n, line in enumerate(lines, 1):
        if not line or line.isspace():
            continue
        seen = True
        try:
            try:
                ev = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise RecordError("", f"invalid JSON: {exc}") from None
            if type(ev) is not dict:
                raise RecordError("", f"is {describe(ev)}, expected a JSON object")
            signal = ev.get("signal")
            if signal == "span":
                spans.append(_span(ev))
            elif signal == "log":
                logs.append(_log(ev, kafka_ns, ids))
            elif signal == "metric":
                points.append(_metric(ev))
            else:
                raise RecordError("signal", f"{short(signal)} is not one of span, log, metric")
        except RecordError as exc:
            errors.append(f"line {n}: {RecordError(_FIELD_NAMES.get(exc.field, exc.field), exc.what)}")
    if not seen:
        raise MessageError("empty message (no non-blank line)")
    out.spans.extend(spans)
    log_rows_into(out.logs, logs)
    log_rows_into(out.metrics, points)
