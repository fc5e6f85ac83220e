"""Log records from OTLP ExportLogsServiceRequest, protobuf or OTLP/JSON.

Logs are the second-heaviest stream, so protobuf log records get their own reader (one loop
into locals, attributes memoised on their bytes, a string body read directly), like spans.
"""

from __future__ import annotations

import struct

from pipeline.decode import enums
from pipeline.decode.jsonfields import enum, get, ns, string
from pipeline.decode.otlp_walk import proto_walk, walk
from pipeline.decode.records import LogIds, Resource
from pipeline.decode.result import MessageError, RecordError
from pipeline.decode.values import json_any, json_attrs, to_text
from pipeline.decode.wire import KV_CACHE, any_value, keyvalue, utf8, varint
from pipeline.model import LogRecord

_u64 = struct.Struct("<Q").unpack_from
_LEVELS = (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records"))


def logs_from_proto(buf: bytes, kafka_ns: int, errors: list[str]) -> list[LogRecord]:
    """Every good log of one protobuf request (MessageError if the message is unreadable)."""
    out: list[LogRecord] = []
    ids = LogIds()
    try:
        for p, q, res, i, j, k in proto_walk(buf):
            try:
                out.append(_proto_log(buf, p, q, res, kafka_ns, ids))
            except RecordError as exc:
                errors.append(exc.at(f"resourceLogs[{i}].scopeLogs[{j}].logRecords[{k}]"))
    except IndexError:  # the record reader's fast path indexes without bounds checks
        raise MessageError("protobuf: a log record runs past the end of the message (truncated?)") from None
    return out


def _proto_log(buf: bytes, pos: int, end: int, res: Resource, kafka_ns: int, ids: LogIds) -> LogRecord:
    time_ns = observed = severity = 0
    severity_text = body = ""
    trace_id: str | None = None
    span_id: str | None = None
    attrs: dict[str, str] = {}
    cached = KV_CACHE.get
    while pos < end:
        tag = buf[pos]
        if tag == 0x32 and buf[pos + 1] < 0x80:  # a short attribute; overruns are caught below
            nxt = pos + 2 + buf[pos + 1]
            raw = buf[pos + 2:nxt]
            hit = cached(raw)
            if hit is None:
                hit = keyvalue(raw)
            attrs[hit[0]] = hit[1]
            pos = nxt
            continue
        pos += 1
        if tag > 0x7F:
            tag, pos = varint(buf, pos - 1, end)
        wt = tag & 7
        if wt == 2:
            ln = buf[pos] if pos < end else 0x80
            pos += 1
            if ln > 0x7F:
                ln, pos = varint(buf, pos - 1, end)
            nxt = pos + ln
            if nxt > end:
                raise MessageError(f"protobuf: LogRecord field {tag >> 3} runs past the end of its message (truncated?)")
            f = tag >> 3
            if f == 5:
                if ln > 1 and buf[pos] == 0x0A:  # string body: read it in place when it fills the AnyValue
                    sl, p = varint(buf, pos + 1, nxt)
                    body = utf8(buf, p, nxt, "LogRecord.body") if p + sl == nxt else to_text(any_value(buf, pos, nxt, 0))
                else:
                    body = to_text(any_value(buf, pos, nxt, 0))
            elif f == 6:
                k, v = keyvalue(buf[pos:nxt])
                attrs[k] = v
            elif f == 9:
                trace_id = buf[pos:nxt].hex()
            elif f == 10:
                span_id = buf[pos:nxt].hex()
            elif f == 3:
                severity_text = utf8(buf, pos, nxt, "LogRecord.severityText")
            pos = nxt
        elif wt == 1:
            if pos + 8 > end:
                raise MessageError(f"protobuf: LogRecord field {tag >> 3} is cut short (truncated?)")
            f = tag >> 3
            if f == 1:
                time_ns = _u64(buf, pos)[0]
            elif f == 11:
                observed = _u64(buf, pos)[0]
            pos += 8
        elif wt == 0:
            v = buf[pos] if pos < end else 0x80
            pos += 1
            if v > 0x7F:
                v, pos = varint(buf, pos - 1, end)
            if tag >> 3 == 2:
                severity = v
        elif wt == 5:
            pos += 4
            if pos > end:
                raise MessageError(f"protobuf: LogRecord field {tag >> 3} is cut short (truncated?)")
        else:
            raise MessageError(f"protobuf: LogRecord field {tag >> 3} uses wire type {wt} (groups or garbage)")
    if pos > end:
        raise MessageError("protobuf: a LogRecord attribute runs past the end of its record (truncated?)")
    return ids.make(time_ns, observed, kafka_ns, severity, severity_text, body, trace_id, span_id, attrs, res)


def logs_from_json(doc: dict, kafka_ns: int, errors: list[str]) -> list[LogRecord]:
    """Every good log of one decoded OTLP/JSON request."""
    out: list[LogRecord] = []
    ids = LogIds()
    for rec, res, path in walk(doc, _LEVELS, json_attrs, errors):
        try:
            body = rec.get("body")
            out.append(ids.make(
                ns(get(rec, "timeUnixNano", "time_unix_nano"), "timeUnixNano"),
                ns(get(rec, "observedTimeUnixNano", "observed_time_unix_nano"), "observedTimeUnixNano"),
                kafka_ns,
                enum(get(rec, "severityNumber", "severity_number"), enums.SEVERITY_NUMBER, "severityNumber"),
                string(get(rec, "severityText", "severity_text"), "severityText"),
                "" if body is None else to_text(json_any(body, "body")),
                get(rec, "traceId", "trace_id"),
                get(rec, "spanId", "span_id"),
                json_attrs(rec.get("attributes"), "attributes"),
                res,
            ))
        except RecordError as exc:
            errors.append(exc.at(path))
    return out
