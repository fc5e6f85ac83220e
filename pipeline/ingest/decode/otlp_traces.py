"""Spans from OTLP ExportTraceServiceRequest, protobuf (generated classes) or OTLP/JSON."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as Span_pb

from pipeline.ingest.decode import enums
from pipeline.ingest.decode.jsonfields import enum, get, items, ns, obj, string
from pipeline.ingest.decode.otlp_pb import attributes, record_path, walk as pb_walk
from pipeline.ingest.decode.otlp_walk import walk
from pipeline.ingest.decode.records import Resource, make_span, text_id
from pipeline.ingest.decode.result import RecordError
from pipeline.ingest.decode.values import attr_text, json_attrs
from pipeline.model import Span

_LEVELS = (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans", "spans"))
_NAMES = ("resourceSpans", "scopeSpans", "spans")


def spans_from_proto(req: ExportTraceServiceRequest, errors: list[str]) -> list[Span]:
    """Every good span of one parsed ExportTraceServiceRequest; bad spans add a reason to `errors`."""
    out: list[Span] = []
    append = out.append
    for s, res, i, j, k in pb_walk(req.resource_spans, "scope_spans", "spans", _NAMES, errors):
        try:
            append(_proto_span(s, res))
        except RecordError as exc:
            errors.append(exc.at(record_path(_NAMES, i, j, k)))
    return out


def _proto_span(s: Span_pb, res: Resource) -> Span:
    # Each field read is a call into upb, so every field is read once; empty lists are
    # skipped without building anything (most spans have no events).
    kvs = s.attributes
    evs = s.events
    status = s.status
    message = status.message
    return make_span(
        s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name,
        s.start_time_unix_nano, s.end_time_unix_nano, s.kind, status.code,
        attr_text(message) if message else "",
        attributes(kvs, "attributes") if kvs else {},
        [{"time_ns": ev.time_unix_nano, "name": ev.name,
          "attributes": attributes(ev.attributes, f"events[{n}].attributes")} for n, ev in enumerate(evs)]
        if evs else [],
        res,
    )


def spans_from_json(doc: dict, errors: list[str]) -> list[Span]:
    """Every good span of one decoded OTLP/JSON request; bad spans add a reason to `errors`."""
    out: list[Span] = []
    for sp, res, path in walk(doc, _LEVELS, errors):
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
