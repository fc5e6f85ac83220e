"""Sample OTLP requests for the decoder tests, built twice: with the opentelemetry-proto
classes (protobuf) and by hand following the OTLP/JSON spec (hex ids, camelCase, int64 as
strings), so a test can check that both encodings decode to the same records."""

from __future__ import annotations

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
PARENT = bytes.fromhex("eee19b7ec3c1b173")
T0 = 1_700_000_000_123_456_789
RESOURCE = {"service.name": "checkout", "service.instance.id": "checkout-7", "host.name": "node-1"}


def any_pb(v: object) -> AnyValue:
    a = AnyValue()
    if isinstance(v, bool):
        a.bool_value = v
    elif isinstance(v, int):
        a.int_value = v
    elif isinstance(v, float):
        a.double_value = v
    elif isinstance(v, bytes):
        a.bytes_value = v
    elif isinstance(v, list):
        a.array_value.values.extend(any_pb(x) for x in v)
    elif isinstance(v, dict):
        a.kvlist_value.values.extend(KeyValue(key=k, value=any_pb(x)) for k, x in v.items())
    else:
        a.string_value = v
    return a


def kvs_pb(d: dict) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_pb(v)) for k, v in d.items()]


def any_json(v: object) -> dict:
    import base64
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, bytes):
        return {"bytesValue": base64.b64encode(v).decode()}
    if isinstance(v, list):
        return {"arrayValue": {"values": [any_json(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": kvs_json(v)}}
    return {"stringValue": v}


def kvs_json(d: dict) -> list[dict]:
    return [{"key": k, "value": any_json(v)} for k, v in d.items()]


SPAN_ATTRS = {"http.method": "GET", "http.status_code": 503, "ratio": 0.25, "cached": False,
              "tags": ["a", 1], "ctx": {"k": "v"}, "blob": b"\x00\x01"}


def spans_pb() -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs_pb(RESOURCE))
    ss = rs.scope_spans.add()
    ss.scope.name = "test"
    s = ss.spans.add(trace_id=TRACE, span_id=SPAN, parent_span_id=PARENT, name="GET /cart", kind=2,
                     start_time_unix_nano=T0, end_time_unix_nano=T0 + 5_000_000)
    s.attributes.extend(kvs_pb(SPAN_ATTRS))
    s.status.code = 2
    s.status.message = "upstream timeout"
    ev = s.events.add(time_unix_nano=T0 + 1000, name="exception")
    ev.attributes.extend(kvs_pb({"exception.type": "TimeoutError"}))
    # A root client span in a second resource, host from k8s.pod.name.
    rs2 = req.resource_spans.add()
    rs2.resource.attributes.extend(kvs_pb({"service.name": "web", "k8s.pod.name": "web-abc"}))
    rs2.scope_spans.add().spans.add(trace_id=TRACE, span_id=PARENT, name="checkout", kind=3,
                                    start_time_unix_nano=T0 - 1000, end_time_unix_nano=T0 + 6_000_000)
    return req.SerializeToString()


def spans_json(kind_names: bool = True, string_times: bool = True) -> bytes:
    t = (lambda n: str(n)) if string_times else (lambda n: n)
    doc = {"resourceSpans": [
        {"resource": {"attributes": kvs_json(RESOURCE)},
         "scopeSpans": [{"scope": {"name": "test"}, "spans": [{
             "traceId": TRACE.hex().upper(), "spanId": SPAN.hex(), "parentSpanId": PARENT.hex(),
             "name": "GET /cart", "kind": "SPAN_KIND_SERVER" if kind_names else 2,
             "startTimeUnixNano": t(T0), "endTimeUnixNano": t(T0 + 5_000_000),
             "attributes": kvs_json(SPAN_ATTRS),
             "status": {"code": "STATUS_CODE_ERROR" if kind_names else 2, "message": "upstream timeout"},
             "events": [{"timeUnixNano": t(T0 + 1000), "name": "exception",
                         "attributes": kvs_json({"exception.type": "TimeoutError"})}]}]}]},
        {"resource": {"attributes": kvs_json({"service.name": "web", "k8s.pod.name": "web-abc"})},
         "scopeSpans": [{"spans": [{
             "traceId": TRACE.hex(), "spanId": PARENT.hex(), "name": "checkout",
             "kind": "SPAN_KIND_CLIENT" if kind_names else 3,
             "startTimeUnixNano": t(T0 - 1000), "endTimeUnixNano": t(T0 + 6_000_000)}]}]},
    ]}
    return orjson.dumps(doc)


LOG_ATTRS = {"user": "u1", "attempt": 3}


def logs_pb() -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(kvs_pb(RESOURCE))
    sl = rl.scope_logs.add()
    r = sl.log_records.add(time_unix_nano=T0, observed_time_unix_nano=T0 + 7, severity_number=17,
                           severity_text="ERROR", trace_id=TRACE, span_id=SPAN)
    r.body.string_value = "payment failed"
    r.attributes.extend(kvs_pb(LOG_ATTRS))
    r2 = sl.log_records.add(observed_time_unix_nano=T0 + 9, severity_number=9)
    r2.body.CopyFrom(any_pb({"msg": "structured", "n": 1}))
    return req.SerializeToString()


def logs_json(names: bool = True) -> bytes:
    doc = {"resourceLogs": [{"resource": {"attributes": kvs_json(RESOURCE)}, "scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(T0), "observedTimeUnixNano": str(T0 + 7),
         "severityNumber": "SEVERITY_NUMBER_ERROR" if names else 17, "severityText": "ERROR",
         "traceId": TRACE.hex(), "spanId": SPAN.hex(), "body": {"stringValue": "payment failed"},
         "attributes": kvs_json(LOG_ATTRS)},
        {"observedTimeUnixNano": T0 + 9, "severityNumber": "SEVERITY_NUMBER_INFO" if names else 9,
         "body": any_json({"msg": "structured", "n": 1})},
    ]}]}]}
    return orjson.dumps(doc)


def metrics_pb() -> bytes:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(kvs_pb(RESOURCE))
    sm = rm.scope_metrics.add()
    g = sm.metrics.add(name="cpu.utilization", unit="1")
    p = g.gauge.data_points.add(time_unix_nano=T0, as_double=0.75)
    p.attributes.extend(kvs_pb({"cpu": "0"}))
    s = sm.metrics.add(name="requests", unit="{request}")
    s.sum.is_monotonic = True
    s.sum.aggregation_temporality = 2
    p = s.sum.data_points.add(start_time_unix_nano=T0 - 60_000_000_000, time_unix_nano=T0, as_int=1234)
    e = p.exemplars.add(time_unix_nano=T0 - 5, as_int=1, trace_id=TRACE, span_id=SPAN)
    e.filtered_attributes.extend(kvs_pb({"ignored": "yes"}))
    h = sm.metrics.add(name="latency", unit="ms")
    h.histogram.aggregation_temporality = 1
    p = h.histogram.data_points.add(start_time_unix_nano=T0 - 10, time_unix_nano=T0, count=6, sum=123.5,
                                    min=1.5, max=80.0, bucket_counts=[1, 2, 3], explicit_bounds=[10.0, 50.0])
    p.exemplars.add(time_unix_nano=T0 - 3, as_double=80.0, trace_id=TRACE, span_id=SPAN)
    x = sm.metrics.add(name="latency.exp", unit="ms")
    x.exponential_histogram.aggregation_temporality = 2
    p = x.exponential_histogram.data_points.add(time_unix_nano=T0, count=10, sum=55.0, scale=-2, zero_count=1,
                                                min=0.0, max=20.0)
    p.positive.offset = -3
    p.positive.bucket_counts.extend([4, 5])
    p.negative.offset = 2
    p.negative.bucket_counts.extend([0])
    p.exemplars.add(time_unix_nano=T0 - 1, as_double=2.5, trace_id=TRACE, span_id=SPAN)
    q = sm.metrics.add(name="rpc.duration", unit="s")
    p = q.summary.data_points.add(time_unix_nano=T0, count=4, sum=2.0)
    p.quantile_values.add(quantile=0.5, value=0.4)
    p.quantile_values.add(quantile=0.99, value=1.2)
    return req.SerializeToString()


def metrics_json() -> bytes:
    ex = {"timeUnixNano": str(T0 - 5), "asInt": "1", "traceId": TRACE.hex(), "spanId": SPAN.hex(),
          "filteredAttributes": kvs_json({"ignored": "yes"})}
    doc = {"resourceMetrics": [{"resource": {"attributes": kvs_json(RESOURCE)}, "scopeMetrics": [{"metrics": [
        {"name": "cpu.utilization", "unit": "1", "gauge": {"dataPoints": [
            {"timeUnixNano": str(T0), "asDouble": 0.75, "attributes": kvs_json({"cpu": "0"})}]}},
        {"name": "requests", "unit": "{request}", "sum": {
            "isMonotonic": True, "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
            "dataPoints": [{"startTimeUnixNano": str(T0 - 60_000_000_000), "timeUnixNano": str(T0),
                            "asInt": "1234", "exemplars": [ex]}]}},
        {"name": "latency", "unit": "ms", "histogram": {"aggregationTemporality": 1, "dataPoints": [
            {"startTimeUnixNano": str(T0 - 10), "timeUnixNano": str(T0), "count": "6", "sum": 123.5,
             "min": 1.5, "max": 80.0, "bucketCounts": ["1", "2", "3"], "explicitBounds": [10.0, 50.0],
             "exemplars": [{"timeUnixNano": str(T0 - 3), "asDouble": 80.0, "traceId": TRACE.hex(),
                            "spanId": SPAN.hex()}]}]}},
        {"name": "latency.exp", "unit": "ms", "exponentialHistogram": {
            "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE", "dataPoints": [
                {"timeUnixNano": str(T0), "count": "10", "sum": 55.0, "scale": -2, "zeroCount": "1",
                 "min": 0.0, "max": 20.0, "positive": {"offset": -3, "bucketCounts": ["4", "5"]},
                 "negative": {"offset": 2, "bucketCounts": ["0"]},
                 "exemplars": [{"timeUnixNano": str(T0 - 1), "asDouble": 2.5, "traceId": TRACE.hex(),
                                "spanId": SPAN.hex()}]}]}},
        {"name": "rpc.duration", "unit": "s", "summary": {"dataPoints": [
            {"timeUnixNano": str(T0), "count": "4", "sum": 2.0,
             "quantileValues": [{"quantile": 0.5, "value": 0.4}, {"quantile": 0.99, "value": 1.2}]}]}},
    ]}]}]}
    return orjson.dumps(doc)
