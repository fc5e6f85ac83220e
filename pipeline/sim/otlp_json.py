"""OTLP/JSON export requests, as the OpenTelemetry Collector's file exporter writes them.

Built as text from per-record templates: attribute sets and names are encoded once (cached
on the interned `Attrs`), ids are already hex, 64-bit times and counts are quoted strings and
enums are ints, as the OTLP/JSON mapping requires. Zero-valued fields are left out, as the
Collector does.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from pipeline.sim.attrs import Attrs, Shape

SCOPE = '{"name":"telecorr.sim","version":"0.1.0"}'
_names: dict[str, str] = {}
_dumps = orjson.dumps


def _value(v: object) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def attrs_json(a: Attrs) -> str:
    j = a.json
    if j is None:
        j = a.json = orjson.dumps([{"key": k, "value": _value(v)} for k, v in a.items]).decode()
    return j


def _name(s: str) -> str:
    j = _names.get(s)
    if j is None:
        if len(_names) > 100_000:
            _names.clear()
        j = _names[s] = orjson.dumps(s).decode()
    return j


def _shape_json(shape: Shape) -> tuple[str, str]:
    head = f'"name":{_name(shape.name)},' + (f'"kind":{shape.kind},' if shape.kind else "")
    tail = f',"attributes":{attrs_json(shape.attrs)}' if shape.attrs.items else ""
    shape.json = (head, tail)
    return shape.json


def span_json(r: tuple) -> str:
    trace, sid, parent, shape, start, end, status, smsg, events = r
    head, tail = shape.json or _shape_json(shape)
    # f-strings rather than %-formatting: about 40 % faster per record on CPython 3.11.
    if parent:
        s = (f'{{"traceId":"{trace}","spanId":"{sid}","parentSpanId":"{parent}",{head}"startTimeUnixNano":"{start}",'
             f'"endTimeUnixNano":"{end}"{tail}')
    else:
        s = (f'{{"traceId":"{trace}","spanId":"{sid}",{head}"startTimeUnixNano":"{start}",'
             f'"endTimeUnixNano":"{end}"{tail}')
    if events:
        s += ',"events":[' + ",".join(
            f'{{"timeUnixNano":"{et}","name":{_name(en)},"attributes":{attrs_json(ea)}}}' for et, en, ea in events) + "]"
    if status:
        return s + (f',"status":{{"message":{_name(smsg)},"code":{status}}}}}' if smsg else f',"status":{{"code":{status}}}}}')
    return s + "}"


def log_json(r: tuple) -> str:
    t, obs, sev_n, sev_t, body, trace, sid = r[:7]
    if sev_n:
        s = (f'{{"timeUnixNano":"{t}","observedTimeUnixNano":"{obs}","severityNumber":{sev_n},"severityText":"{sev_t}",'
             f'"body":{{"stringValue":{_dumps(body).decode()}}}')
    else:
        s = f'{{"timeUnixNano":"{t}","observedTimeUnixNano":"{obs}","body":{{"stringValue":{_dumps(body).decode()}}}'
    if trace:
        if sid:
            return f'{s},"traceId":"{trace}","spanId":"{sid}"}}'
        return f'{s},"traceId":"{trace}"}}'
    return s + "}"


def metric_json(r: tuple) -> str:
    name, unit, kind, t, start, value, attrs, summary = r
    a = f'"attributes":{attrs_json(attrs)},' if attrs.items else ""
    if kind == "summary":
        count, total, qs = summary
        qv = ",".join(f'{{"quantile":{q},"value":{v}}}' for q, v in qs)
        dp = (f'{{{a}"startTimeUnixNano":"{start}","timeUnixNano":"{t}","count":"{count}","sum":{total},'
              f'"quantileValues":[{qv}]}}')
        return f'{{"name":"{name}","unit":"{unit}","summary":{{"dataPoints":[{dp}]}}}}'
    if value != value:
        value = '"NaN"'  # as the OTLP/JSON mapping writes it; a bare nan is not JSON
    return f'{{"name":"{name}","unit":"{unit}","gauge":{{"dataPoints":[{{{a}"timeUnixNano":"{t}","asDouble":{value}}}]}}}}'


_SIGNAL = {
    "traces": ("resourceSpans", "scopeSpans", "spans", span_json),
    "logs": ("resourceLogs", "scopeLogs", "logRecords", log_json),
    "metrics": ("resourceMetrics", "scopeMetrics", "metrics", metric_json),
}


def encode(signal: str, groups: list[tuple[Attrs, list[tuple]]], batch: int) -> Iterator[tuple[bytes, int]]:
    """Export requests of up to `batch` records, grouped by resource. Yields (bytes, records)."""
    top, scope_key, rec_key, one = _SIGNAL[signal]
    parts: list[str] = []
    n = 0
    for resource, records in groups:
        i = 0
        while i < len(records):
            take = records[i:i + batch - n]
            i += len(take)
            parts.append(f'{{"resource":{{"attributes":{attrs_json(resource)}}},"{scope_key}":[{{"scope":{SCOPE},'
                         f'"{rec_key}":[' + ",".join(map(one, take)) + "]}]}")
            n += len(take)
            if n >= batch:
                yield f'{{"{top}":[{",".join(parts)}]}}'.encode(), n
                parts, n = [], 0
    if parts:
        yield f'{{"{top}":[{",".join(parts)}]}}'.encode(), n
