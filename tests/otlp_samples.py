"""Hand-built OTLP requests (protobuf through opentelemetry-proto, JSON written per the spec)
with the values a correct decoder must recover, for the end-to-end ingest tests."""

from __future__ import annotations

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

T0 = 1_700_000_000_000_000_000


def ids(seed: int, i: int) -> tuple[str, str]:
    return f"{seed:08x}{i:024x}", f"{seed:04x}{i + 1:012x}"


def resource(service: str, host: str, instance: str) -> list[tuple[str, str]]:
    return [("service.name", service), ("host.name", host), ("service.instance.id", instance)]


def _kv_pb(pairs) -> list[KeyValue]:
    out = []
    for k, v in pairs:
        av = AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v)
        out.append(KeyValue(key=k, value=av))
    return out


def _kv_json(pairs) -> list[dict]:
    return [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
            for k, v in pairs]


def traces(seed: int, n: int, service: str = "cart", host: str = "node-1") -> tuple[bytes, bytes, list[dict]]:
    """n spans of one trace: protobuf bytes, OTLP/JSON bytes, and the expected stored rows."""
    res = resource(service, host, f"{service}-1")
    pb = ExportTraceServiceRequest()
    rs = pb.resource_spans.add()
    rs.resource.attributes.extend(_kv_pb(res))
    ss = rs.scope_spans.add()
    jspans, expected = [], []
    for i in range(n):
        tid, sid = ids(seed, 0)[0], ids(seed, i)[1]
        parent = ids(seed, i - 1)[1] if i else ""
        start, end = T0 + seed * 10**9 + i * 1000, T0 + seed * 10**9 + i * 1000 + 500 + i
        status = 2 if i % 3 == 0 else 0
        attrs = [("http.route", f"/r/{i}"), ("http.status_code", 500 if status == 2 else 200)]
        sp = ss.spans.add(trace_id=bytes.fromhex(tid), span_id=bytes.fromhex(sid), name=f"op{i % 4}", kind=2,
                          start_time_unix_nano=start, end_time_unix_nano=end)
        if parent:
            sp.parent_span_id = bytes.fromhex(parent)
        sp.attributes.extend(_kv_pb(attrs))
        sp.status.code = status
        sp.status.message = "boom" if status == 2 else ""
        jspans.append({"traceId": tid, "spanId": sid, "parentSpanId": parent, "name": f"op{i % 4}",
                       "kind": "SPAN_KIND_SERVER" if i % 2 else 2, "startTimeUnixNano": str(start),
                       "endTimeUnixNano": end, "attributes": _kv_json(attrs),
                       "status": {"code": status, "message": "boom" if status == 2 else ""}})
        expected.append({"trace_id": tid, "span_id": sid, "parent_span_id": parent, "service": service,
                         "host": host, "instance": f"{service}-1", "start_ns": start, "end_ns": end,
                         "status_code": status, "kind": 2, "http.route": f"/r/{i}",
                         "http.status_code": str(500 if status == 2 else 200)})
    js = {"resourceSpans": [{"resource": {"attributes": _kv_json(res)},
                             "scopeSpans": [{"scope": {"name": "t"}, "spans": jspans}]}]}
    return pb.SerializeToString(), orjson.dumps(js), expected


def logs(seed: int, n: int, service: str = "cart", host: str = "node-1") -> tuple[bytes, bytes, list[dict]]:
    res = resource(service, host, f"{service}-1")
    pb = ExportLogsServiceRequest()
    rl = pb.resource_logs.add()
    rl.resource.attributes.extend(_kv_pb(res))
    sl = rl.scope_logs.add()
    jlogs, expected = [], []
    for i in range(n):
        tid, sid = ids(seed, 0)[0], ids(seed, i)[1]
        t = T0 + seed * 10**9 + i * 1000 + 10
        body = f"seed {seed} request {i} handled"
        lr = sl.log_records.add(time_unix_nano=t, severity_number=9 if i % 2 else 17,
                                severity_text="INFO" if i % 2 else "ERROR", trace_id=bytes.fromhex(tid),
                                span_id=bytes.fromhex(sid))
        lr.body.string_value = body
        lr.attributes.extend(_kv_pb([("n", i)]))
        jlogs.append({"timeUnixNano": str(t), "severityNumber": "SEVERITY_NUMBER_INFO" if i % 2 else 17,
                      "severityText": "INFO" if i % 2 else "ERROR", "traceId": tid, "spanId": sid,
                      "body": {"stringValue": body}, "attributes": _kv_json([("n", i)])})
        expected.append({"trace_id": tid, "span_id": sid, "time_ns": t, "body": body, "service": service,
                         "host": host, "severity_number": 9 if i % 2 else 17, "n": str(i)})
    js = {"resourceLogs": [{"resource": {"attributes": _kv_json(res)},
                            "scopeLogs": [{"scope": {}, "logRecords": jlogs}]}]}
    return pb.SerializeToString(), orjson.dumps(js), expected


def metrics(seed: int, service: str = "cart", host: str = "node-1") -> tuple[bytes, bytes, list[dict]]:
    """One point of every OTLP metric type, with an exemplar on the gauge."""
    res = resource(service, host, f"{service}-1")
    t = T0 + seed * 10**9
    tid, sid = ids(seed, 0)[0], ids(seed, 0)[1]
    pb = ExportMetricsServiceRequest()
    rm = pb.resource_metrics.add()
    rm.resource.attributes.extend(_kv_pb(res))
    sm = rm.scope_metrics.add()
    g = sm.metrics.add(name="cpu.usage", unit="1").gauge.data_points.add(time_unix_nano=t, as_double=0.75)
    g.exemplars.add(time_unix_nano=t, as_double=0.9, trace_id=bytes.fromhex(tid), span_id=bytes.fromhex(sid))
    s = sm.metrics.add(name="requests", unit="1").sum
    s.is_monotonic, s.aggregation_temporality = True, metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    s.data_points.add(time_unix_nano=t, start_time_unix_nano=t - 10**9, as_int=42)
    h = sm.metrics.add(name="latency", unit="ms").histogram
    h.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    h.data_points.add(time_unix_nano=t, count=6, sum=30.0, min=1.0, max=12.0, explicit_bounds=[5.0, 10.0],
                      bucket_counts=[2, 3, 1])
    e = sm.metrics.add(name="latency.exp", unit="ms").exponential_histogram
    ep = e.data_points.add(time_unix_nano=t, count=5, sum=20.0, scale=2, zero_count=1)
    ep.positive.offset = 3
    ep.positive.bucket_counts.extend([1, 3])
    q = sm.metrics.add(name="latency.summary", unit="ms").summary.data_points.add(time_unix_nano=t, count=4, sum=8.0)
    q.quantile_values.add(quantile=0.5, value=1.5)
    q.quantile_values.add(quantile=0.99, value=3.0)
    ts = str(t)
    js = {"resourceMetrics": [{"resource": {"attributes": _kv_json(res)}, "scopeMetrics": [{"metrics": [
        {"name": "cpu.usage", "unit": "1", "gauge": {"dataPoints": [
            {"timeUnixNano": ts, "asDouble": 0.75,
             "exemplars": [{"timeUnixNano": ts, "asDouble": 0.9, "traceId": tid, "spanId": sid}]}]}},
        {"name": "requests", "unit": "1", "sum": {"isMonotonic": True, "aggregationTemporality": 2, "dataPoints": [
            {"timeUnixNano": ts, "startTimeUnixNano": str(t - 10**9), "asInt": "42"}]}},
        {"name": "latency", "unit": "ms", "histogram": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
            "dataPoints": [{"timeUnixNano": ts, "count": "6", "sum": 30.0, "min": 1.0, "max": 12.0,
                            "explicitBounds": [5.0, 10.0], "bucketCounts": ["2", "3", "1"]}]}},
        {"name": "latency.exp", "unit": "ms", "exponentialHistogram": {"dataPoints": [
            {"timeUnixNano": ts, "count": "5", "sum": 20.0, "scale": 2, "zeroCount": "1",
             "positive": {"offset": 3, "bucketCounts": ["1", "3"]}}]}},
        {"name": "latency.summary", "unit": "ms", "summary": {"dataPoints": [
            {"timeUnixNano": ts, "count": "4", "sum": 8.0,
             "quantileValues": [{"quantile": 0.5, "value": 1.5}, {"quantile": 0.99, "value": 3.0}]}]}},
    ]}]}]}
    expected = [
        {"name": "cpu.usage", "type": "gauge", "value": 0.75, "exemplar_trace_ids": [tid], "exemplar_span_ids": [sid]},
        {"name": "requests", "type": "sum", "value": 42.0, "is_monotonic": True, "temporality": 2},
        {"name": "latency", "type": "histogram", "count": 6, "sum": 30.0, "min": 1.0, "max": 12.0,
         "bucket_bounds": [5.0, 10.0], "bucket_counts": [2, 3, 1], "temporality": 1},
        {"name": "latency.exp", "type": "exp_histogram", "count": 5, "sum": 20.0, "exp_scale": 2,
         "exp_zero_count": 1, "exp_positive_offset": 3, "exp_positive_counts": [1, 3]},
        {"name": "latency.summary", "type": "summary", "count": 4, "sum": 8.0},
    ]
    for row in expected:
        row.update(time_ns=t, service=service, host=host)
    return pb.SerializeToString(), orjson.dumps(js), expected
