"""Pretty-printed OTLP/JSON requests shaped like the opentelemetry-proto repository's
`examples/trace.json`, `logs.json` and `metrics.json` (written here, not copied): one
resource, one scope, upper-case hex ids, times as decimal strings, typed attribute values."""

from __future__ import annotations

import orjson

T = 1_700_000_000_000_000_000
RESOURCE = {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout.api"}}]}
SCOPE = {"name": "checkout.instrumentation", "version": "2.1.0",
         "attributes": [{"key": "scope.kind", "value": {"stringValue": "auto"}}]}
TRACE_ID = "7A3B9F00C1D2E3F405162738495A6B7C"
ATTRS = [{"key": "text", "value": {"stringValue": "hello"}},
         {"key": "flag", "value": {"boolValue": True}},
         {"key": "count", "value": {"intValue": "42"}},
         {"key": "ratio", "value": {"doubleValue": 0.25}},
         {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "7"}]}}},
         {"key": "nested", "value": {"kvlistValue": {"values": [{"key": "inner", "value": {"stringValue": "x"}}]}}}]

TRACES = {"resourceSpans": [{"resource": RESOURCE, "scopeSpans": [{"scope": SCOPE, "spans": [{
    "traceId": TRACE_ID, "spanId": "1F2E3D4C5B6A7988", "parentSpanId": "1F2E3D4C5B6A7987",
    "name": "POST /checkout", "startTimeUnixNano": str(T), "endTimeUnixNano": str(T + 1_500_000_000),
    "kind": 2, "attributes": ATTRS[:1]}]}]}]}

LOGS = {"resourceLogs": [{"resource": RESOURCE, "scopeLogs": [{"scope": SCOPE, "logRecords": [{
    "timeUnixNano": str(T), "observedTimeUnixNano": str(T + 1000), "severityNumber": 10,
    "severityText": "Information", "traceId": TRACE_ID, "spanId": "1F2E3D4C5B6A7988",
    "body": {"stringValue": "order accepted"}, "attributes": ATTRS}]}]}]}

_POINT_ATTRS = [{"key": "route", "value": {"stringValue": "/checkout"}}]
METRICS = {"resourceMetrics": [{"resource": RESOURCE, "scopeMetrics": [{"scope": SCOPE, "metrics": [
    {"name": "orders.count", "unit": "1", "description": "orders taken",
     "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
         {"asInt": "12", "startTimeUnixNano": str(T), "timeUnixNano": str(T + 10**9), "attributes": _POINT_ATTRS}]}},
    {"name": "queue.depth", "unit": "1", "description": "items waiting",
     "gauge": {"dataPoints": [{"asDouble": 3.5, "timeUnixNano": str(T + 10**9), "attributes": _POINT_ATTRS}]}},
    {"name": "request.latency", "unit": "ms", "description": "latency",
     "histogram": {"aggregationTemporality": 1, "dataPoints": [
         {"startTimeUnixNano": str(T), "timeUnixNano": str(T + 10**9), "count": "3", "sum": 9.0,
          "bucketCounts": ["1", "1", "1"], "explicitBounds": [1.0, 5.0], "min": 0.5, "max": 6.0,
          "attributes": _POINT_ATTRS}]}},
    {"name": "request.size", "unit": "By", "description": "sizes",
     "exponentialHistogram": {"aggregationTemporality": 1, "dataPoints": [
         {"startTimeUnixNano": str(T), "timeUnixNano": str(T + 10**9), "count": "3", "sum": 10.0, "scale": 0,
          "zeroCount": "1", "positive": {"offset": 1, "bucketCounts": ["0", "2"]}, "negative": {},
          "min": 0, "max": 5.0, "attributes": _POINT_ATTRS}]}}]}]}]}

EXAMPLES = {"traces": (TRACES, 1), "logs": (LOGS, 1), "metrics": (METRICS, 4)}  # document, records in it


def pretty(doc: dict) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
