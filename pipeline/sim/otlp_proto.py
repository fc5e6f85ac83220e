"""OTLP protobuf export requests (what the Collector's Kafka exporter publishes by default).

Same grouping and batching as otlp_json, built with the opentelemetry-proto classes;
attribute sets are converted to KeyValue messages once and copied into each record.
"""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from pipeline.sim.attrs import Attrs


def _value(v: object) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=str(v))


def attrs_proto(a: Attrs) -> list[KeyValue]:
    p = a.proto
    if p is None:
        p = a.proto = [KeyValue(key=k, value=_value(v)) for k, v in a.items]
    return p


def _scope(scope) -> None:
    scope.name = "telecorr.sim"
    scope.version = "0.1.0"


def _spans(req: ExportTraceServiceRequest, resource: Attrs, records: list[tuple]) -> None:
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(attrs_proto(resource))
    ss = rs.scope_spans.add()
    _scope(ss.scope)
    add = ss.spans.add
    fromhex = bytes.fromhex
    for trace, sid, parent, shape, start, end, status, smsg, events in records:
        sp = add(trace_id=fromhex(trace), span_id=fromhex(sid), name=shape.name, kind=shape.kind,
                 start_time_unix_nano=start, end_time_unix_nano=end)
        if parent:
            sp.parent_span_id = fromhex(parent)
        if shape.attrs.items:
            sp.attributes.extend(attrs_proto(shape.attrs))
        if status:
            sp.status.code = status
            sp.status.message = smsg
        if events:
            for et, en, ea in events:
                ev = sp.events.add(time_unix_nano=et, name=en)
                ev.attributes.extend(attrs_proto(ea))


def _logs(req: ExportLogsServiceRequest, resource: Attrs, records: list[tuple]) -> None:
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(attrs_proto(resource))
    sl = rl.scope_logs.add()
    _scope(sl.scope)
    add = sl.log_records.add
    for r in records:
        t, obs, sev_n, sev_t, body, trace, sid = r[:7]
        lr = add(time_unix_nano=t, observed_time_unix_nano=obs, severity_number=sev_n, severity_text=sev_t)
        lr.body.string_value = body
        if trace:
            lr.trace_id = bytes.fromhex(trace)
            if sid:
                lr.span_id = bytes.fromhex(sid)


def _metrics(req: ExportMetricsServiceRequest, resource: Attrs, records: list[tuple]) -> None:
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(attrs_proto(resource))
    sm = rm.scope_metrics.add()
    _scope(sm.scope)
    add = sm.metrics.add
    for name, unit, kind, t, start, value, attrs, summary in records:
        m = add(name=name, unit=unit)
        if kind == "summary":
            count, total, qs = summary
            dp = m.summary.data_points.add(start_time_unix_nano=start, time_unix_nano=t, count=count, sum=total)
            for q, v in qs:
                dp.quantile_values.add(quantile=q, value=v)
        else:
            dp = m.gauge.data_points.add(time_unix_nano=t, as_double=value)
        if attrs.items:
            dp.attributes.extend(attrs_proto(attrs))


_SIGNAL = {
    "traces": (ExportTraceServiceRequest, _spans),
    "logs": (ExportLogsServiceRequest, _logs),
    "metrics": (ExportMetricsServiceRequest, _metrics),
}


def encode(signal: str, groups: list[tuple[Attrs, list[tuple]]], batch: int) -> Iterator[tuple[bytes, int]]:
    """Serialized export requests of up to `batch` records, grouped by resource."""
    cls, fill = _SIGNAL[signal]
    req, n = cls(), 0
    for resource, records in groups:
        i = 0
        while i < len(records):
            take = records[i:i + batch - n]
            i += len(take)
            fill(req, resource, take)
            n += len(take)
            if n >= batch:
                yield req.SerializeToString(deterministic=True), n
                req, n = cls(), 0
    if n:
        yield req.SerializeToString(deterministic=True), n
