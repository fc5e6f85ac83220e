"""Spans from OTLP ExportTraceServiceRequest, protobuf (generated classes) or OTLP/JSON."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as Span_pb

from pipeline.ingest.decode import enums
from pipeline.ingest.decode.jsonfields import enum, get, is_decimal, items, ns, obj, string
from pipeline.ingest.decode.otlp_pb import attributes, record_path
from pipeline.ingest.decode.otlp_walk import walk
from pipeline.column_batch import ColumnBatch
from pipeline.ingest.decode.records import ZERO_SPAN, ZERO_TRACE, Resource, is_hex, make_span, text_id
from pipeline.ingest.decode.result import RecordError
from pipeline.ingest.decode.timebounds import max_time_ns
from pipeline.ingest.decode.values import SHORT_TEXT, attr_text, json_attrs
from pipeline.model import Span

_LEVELS = (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans", "spans"))
_NAMES = ("resourceSpans", "scopeSpans", "spans")


def spans_into_columns(req: ExportTraceServiceRequest, out: ColumnBatch, errors: list[str]) -> None:
    """Append every good span of one parsed request to `out`'s columns; bad spans add a
    reason to `errors`. The hot path: each field is read once from upb and appended to its
    column, no Span is built. A span the quick checks do not pass (an id, time, kind or
    status out of line, events, a long name) takes the record path (make_span), so every
    rule and reason is the one place's; the rows come out the same either way."""
    cols = {n: [] for n in out.cols}
    tids, sids, pids, names = cols["trace_id"], cols["span_id"], cols["parent_span_id"], cols["name"]
    starts, ends, kinds, codes, messages = cols["start_ns"], cols["end_ns"], cols["kind"], cols["status_code"], \
        cols["status_message"]
    services, instances, hosts, attrs, resources, events = cols["service"], cols["instance"], cols["host"], \
        cols["attributes"], cols["resource"], cols["events"]
    latest = max_time_ns()
    for i, rs in enumerate(req.resource_spans):
        try:
            res = Resource(attributes(rs.resource.attributes, "resource.attributes"))
        except RecordError as exc:
            errors.append(exc.at(f"{_NAMES[0]}[{i}]"))
            continue
        service, instance, host, rattrs = res.service, res.instance, res.host, res.attributes
        for j, ss in enumerate(rs.scope_spans):
            for k, s in enumerate(ss.spans):
                tid, sid, pid, name = s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name
                start, end, kind = s.start_time_unix_nano, s.end_time_unix_nano, s.kind
                status = s.status
                code = status.code
                try:
                    if (len(tid) != 32 or len(sid) != 16 or tid == ZERO_TRACE or sid == ZERO_SPAN
                            or (pid and (len(pid) != 16 or pid == ZERO_SPAN)) or not 0 < start <= end <= latest
                            or not 0 <= kind <= 5 or not 0 <= code <= 2 or s.events or len(name) > SHORT_TEXT):
                        _append_row(cols, _proto_span(s, res))
                        continue
                    kvs = s.attributes
                    attrs.append(attributes(kvs, "attributes") if kvs else {})
                except RecordError as exc:
                    errors.append(exc.at(record_path(_NAMES, i, j, k)))
                    continue
                message = status.message
                tids.append(tid)
                sids.append(sid)
                pids.append(pid)
                names.append(name)
                starts.append(start)
                ends.append(end)
                kinds.append(kind)
                codes.append(code)
                messages.append(attr_text(message) if message else "")
                services.append(service)
                instances.append(instance)
                hosts.append(host)
                resources.append(rattrs)
                events.append([])
    cols["kafka_ns"] = [0] * len(tids)
    out.extend(ColumnBatch(Span, cols))


def _append_row(cols: dict[str, list], span: Span) -> None:
    """One span built on the record path, added to the columns being filled (all but
    kafka_ns, which is filled at the end)."""
    for name, col in cols.items():
        if name != "kafka_ns":
            col.append(getattr(span, name))


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


def json_spans_into_columns(doc: dict, out: ColumnBatch, errors: list[str]) -> None:
    """Append every good span of one decoded OTLP/JSON request to `out`'s columns; bad spans
    add a reason to `errors`. A span in the usual shape (hex ids, integer or decimal-string
    times, numeric or named kind and status, no events) is checked and appended field by
    field; any other takes the record path (make_span), so the rules and reasons are the
    same either way."""
    cols = {n: [] for n in out.cols}
    appends = [col.append for name, col in cols.items() if name != "kafka_ns"]
    latest = max_time_ns()
    for sp, res, path in walk(doc, _LEVELS, errors):
        try:
            row = _quick_json_span(sp, res, latest)
            if row is None:
                span = _json_span(sp, res)
                row = [getattr(span, name) for name in cols if name != "kafka_ns"]
        except RecordError as exc:
            errors.append(exc.at(path))
            continue
        for append, value in zip(appends, row):
            append(value)
    cols["kafka_ns"] = [0] * len(cols["trace_id"])
    out.extend(ColumnBatch(Span, cols))


def _hex_id(v: object, nbytes: int) -> str | None:
    """A well-formed id in lowercase, '' when absent, None for anything the record path must judge."""
    if v is None or v == "":
        return ""
    if type(v) is str and len(v) == 2 * nbytes and is_hex(v) is not None:
        return v.lower()
    return None


def _time(v: object) -> int | None:
    if type(v) is int:
        return v
    if type(v) is str and is_decimal(v):
        return int(v)
    return None


def _code(v: object, names: dict[str, int], top: int) -> int | None:
    if v is None:
        return 0
    n = v if type(v) is int else names.get(v) if type(v) is str else None
    return n if n is not None and 0 <= n <= top else None


def _quick_json_span(sp: dict, res: Resource, latest: int) -> tuple | None:
    """The span's column values (all but kafka_ns) when every quick check passes, else None."""
    tid = _hex_id(get(sp, "traceId", "trace_id"), 16)
    sid = _hex_id(get(sp, "spanId", "span_id"), 8)
    pid = _hex_id(get(sp, "parentSpanId", "parent_span_id"), 8)
    name = sp.get("name")
    start = _time(get(sp, "startTimeUnixNano", "start_time_unix_nano"))
    end = _time(get(sp, "endTimeUnixNano", "end_time_unix_nano"))
    status = sp.get("status")
    if status is None:
        status = {}
    if (not tid or not sid or pid is None or tid == ZERO_TRACE or sid == ZERO_SPAN or pid == ZERO_SPAN
            or type(name) is not str or len(name) > SHORT_TEXT or start is None or end is None
            or not 0 < start <= end <= latest or type(status) is not dict
            or (events := sp.get("events")) is not None and events != []):
        return None
    kind = _code(sp.get("kind"), enums.SPAN_KIND, 5)
    code = _code(status.get("code"), enums.STATUS_CODE, 2)
    message = status.get("message")
    if kind is None or code is None or not (message is None or type(message) is str):
        return None
    return (tid, sid, pid, name, start, end, kind, code, attr_text(message) if message else "",
            res.service, res.instance, res.host, json_attrs(sp.get("attributes"), "attributes"), res.attributes, [])


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
