"""Spans from OTLP ExportTraceServiceRequest, protobuf or OTLP/JSON.

Spans are the heaviest stream, so protobuf spans get their own reader: one loop over a span's
bytes straight into locals, attributes memoised on their encoded bytes (wire.keyvalue), and
only the rare parts (events, status) go through the generic table reader.
"""

from __future__ import annotations

import re
import struct

from pipeline.decode import enums
from pipeline.decode.jsonfields import enum, get, items, ns, obj, string
from pipeline.decode.otlp_schema import SPAN_EVENT, STATUS
from pipeline.decode.otlp_walk import proto_walk, walk
from pipeline.decode.records import Resource, make_span, text_id
from pipeline.decode.result import MessageError, RecordError
from pipeline.decode.values import attr_text, json_attrs
from pipeline.decode.wire import KV_CACHE, keyvalue, parse, utf8, varint
from pipeline.model import Span

_u64 = struct.Struct("<Q").unpack_from
# trace_id (field 1, 16 bytes), span_id (2, 8 bytes), optional parent_span_id (4, 8 bytes).
_HEAD = re.compile(rb"\n\x10(.{16})\x12\x08(.{8})(?:\x22\x08(.{8}))?", re.S).match
# start_time_unix_nano (field 7, fixed64) then end_time_unix_nano (8, fixed64), tags included.
_TIMES = struct.Struct("<BQBQ").unpack_from
_LEVELS = (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans", "spans"))


def spans_from_proto(buf: bytes, errors: list[str]) -> list[Span]:
    """Every good span of one protobuf request; bad spans add a reason to `errors`.

    Raises MessageError when the message itself cannot be read.
    """
    out: list[Span] = []
    try:
        for p, q, res, i, j, k in proto_walk(buf):
            try:
                out.append(_proto_span(buf, p, q, res))
            except RecordError as exc:
                errors.append(exc.at(f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"))
    except IndexError:  # the span reader's fast paths index without bounds checks
        raise MessageError("protobuf: a span runs past the end of the message (truncated?)") from None
    return out


def _proto_span(buf: bytes, pos: int, end: int, res: Resource) -> Span:
    trace_id = span_id = parent = name = message = ""
    start = stop = kind = code = 0
    attrs: dict[str, str] = {}
    events: list[dict] = []
    # Fast path for the layout every mainstream encoder writes (fields in ascending order):
    # ids, name, kind and times read without the general loop. Anything else (other order,
    # long names, missing fields) falls through to the loop, which accepts any layout.
    m = _HEAD(buf, pos, end)
    if m is not None:
        trace_id = m[1].hex()
        span_id = m[2].hex()
        if m[3] is not None:
            parent = m[3].hex()
        pos = m.end()
        if pos + 1 < end and buf[pos] == 0x2A and buf[pos + 1] < 0x80:  # name, short
            nxt = pos + 2 + buf[pos + 1]
            if nxt <= end:
                name = utf8(buf, pos + 2, nxt, "Span.name")
                pos = nxt
        if pos + 1 < end and buf[pos] == 0x30 and buf[pos + 1] < 0x80:  # kind
            kind = buf[pos + 1]
            pos += 2
        if pos + 18 <= end and buf[pos] == 0x39 and buf[pos + 9] == 0x41:  # start, end
            _, start, _, stop = _TIMES(buf, pos)
            pos += 18
    cached = KV_CACHE.get
    while pos < end:
        tag = buf[pos]
        if tag == 0x4A and buf[pos + 1] < 0x80:  # a short attribute; overruns are caught below
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
                raise MessageError(f"protobuf: Span field {tag >> 3} runs past the end of its message (truncated?)")
            f = tag >> 3
            if f == 9:
                k, v = keyvalue(buf[pos:nxt])
                attrs[k] = v
            elif f == 1:
                trace_id = buf[pos:nxt].hex()
            elif f == 2:
                span_id = buf[pos:nxt].hex()
            elif f == 4:
                parent = buf[pos:nxt].hex()
            elif f == 5:
                name = utf8(buf, pos, nxt, "Span.name")
            elif f == 15:
                if ln == 2 and buf[pos] == 0x18 and buf[pos + 1] < 0x80:  # just a small code
                    code = buf[pos + 1]
                    pos = nxt
                    continue
                status = parse(buf, pos, nxt, STATUS)
                code = status.get("code", 0)
                message = attr_text(status.get("message", ""))
            elif f == 11:
                ev = parse(buf, pos, nxt, SPAN_EVENT)
                events.append({"time_ns": ev.get("timeUnixNano", 0), "name": ev.get("name", ""),
                               "attributes": ev.get("attributes") or {}})
            pos = nxt
        elif wt == 1:
            if pos + 8 > end:
                raise MessageError(f"protobuf: Span field {tag >> 3} is cut short (truncated?)")
            f = tag >> 3
            if f == 7:
                start = _u64(buf, pos)[0]
            elif f == 8:
                stop = _u64(buf, pos)[0]
            pos += 8
        elif wt == 0:
            v = buf[pos] if pos < end else 0x80
            pos += 1
            if v > 0x7F:
                v, pos = varint(buf, pos - 1, end)
            if tag >> 3 == 6:
                kind = v
        elif wt == 5:
            pos += 4
            if pos > end:
                raise MessageError(f"protobuf: Span field {tag >> 3} is cut short (truncated?)")
        else:
            raise MessageError(f"protobuf: Span field {tag >> 3} uses wire type {wt} (groups or garbage)")
    if pos > end:
        raise MessageError("protobuf: a Span attribute runs past the end of its span (truncated?)")
    return make_span(trace_id, span_id, parent, name, start, stop, kind, code, message, attrs, events, res)


def spans_from_json(doc: dict, errors: list[str]) -> list[Span]:
    """Every good span of one decoded OTLP/JSON request; bad spans add a reason to `errors`."""
    out: list[Span] = []
    for sp, res, path in walk(doc, _LEVELS, json_attrs, errors):
        try:
            out.append(_json_span(sp, res))
        except RecordError as exc:
            errors.append(exc.at(path))
    return out


def _json_span(sp: dict, res: Resource) -> Span:
    status = obj(sp.get("status"), "status")
    events = []
    for n, ev in enumerate(items(sp.get("events"), "events")):
        where = f"events[{n}]"
        ev = obj(ev, where)
        events.append({"time_ns": ns(get(ev, "timeUnixNano", "time_unix_nano"), where + ".timeUnixNano"),
                       "name": string(ev.get("name"), where + ".name"),
                       "attributes": json_attrs(ev.get("attributes"), where + ".attributes")})
    return make_span(
        text_id(get(sp, "traceId", "trace_id"), "traceId", 16),
        text_id(get(sp, "spanId", "span_id"), "spanId", 8),
        text_id(get(sp, "parentSpanId", "parent_span_id"), "parentSpanId", 8),
        string(sp.get("name"), "name"),
        ns(get(sp, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano"),
        ns(get(sp, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano"),
        enum(sp.get("kind"), enums.SPAN_KIND, "kind"),
        enum(status.get("code"), enums.STATUS_CODE, "status.code"),
        attr_text(string(status.get("message"), "status.message")),
        json_attrs(sp.get("attributes"), "attributes"),
        events,
        res,
    )
