"""Field tables for the OTLP protobuf messages read by wire.parse.

Field numbers follow opentelemetry-proto (common/resource/metrics/trace v1); names are
the OTLP/JSON (camelCase) names, so a parsed protobuf message looks like decoded OTLP/JSON.
"""

from __future__ import annotations

from pipeline.decode.wire import (ATTRS, BOOL, DOUBLE, FIX64, HEX, LIST, MSG,
                                  PACKED_DOUBLE, PACKED_FIX64, PACKED_UINT, SFIX64, SINT, STR,
                                  UINT, Table)

RESOURCE = Table("Resource", {1: ("attributes", ATTRS)})

# Traces: only what the span fast path hands to the generic reader.
SPAN_EVENT = Table("Span.Event", {1: ("timeUnixNano", FIX64), 2: ("name", STR), 3: ("attributes", ATTRS)})
STATUS = Table("Status", {2: ("message", STR), 3: ("code", UINT)})

# Metrics.
EXEMPLAR = Table("Exemplar", {
    2: ("timeUnixNano", FIX64), 3: ("asDouble", DOUBLE),  # filteredAttributes (7) are not kept
    6: ("asInt", SFIX64), 4: ("spanId", HEX), 5: ("traceId", HEX),
})
NUMBER_POINT = Table("NumberDataPoint", {
    7: ("attributes", ATTRS), 2: ("startTimeUnixNano", FIX64), 3: ("timeUnixNano", FIX64),
    4: ("asDouble", DOUBLE), 6: ("asInt", SFIX64), 5: ("exemplars", LIST, EXEMPLAR), 8: ("flags", UINT),
})
HISTOGRAM_POINT = Table("HistogramDataPoint", {
    9: ("attributes", ATTRS), 2: ("startTimeUnixNano", FIX64), 3: ("timeUnixNano", FIX64),
    4: ("count", FIX64), 5: ("sum", DOUBLE), 6: ("bucketCounts", PACKED_FIX64),
    7: ("explicitBounds", PACKED_DOUBLE), 8: ("exemplars", LIST, EXEMPLAR), 10: ("flags", UINT),
    11: ("min", DOUBLE), 12: ("max", DOUBLE),
})
BUCKETS = Table("ExponentialHistogramDataPoint.Buckets", {1: ("offset", SINT), 2: ("bucketCounts", PACKED_UINT)})
EXP_HISTOGRAM_POINT = Table("ExponentialHistogramDataPoint", {
    1: ("attributes", ATTRS), 2: ("startTimeUnixNano", FIX64), 3: ("timeUnixNano", FIX64),
    4: ("count", FIX64), 5: ("sum", DOUBLE), 6: ("scale", SINT), 7: ("zeroCount", FIX64),
    8: ("positive", MSG, BUCKETS), 9: ("negative", MSG, BUCKETS), 10: ("flags", UINT),
    11: ("exemplars", LIST, EXEMPLAR), 12: ("min", DOUBLE), 13: ("max", DOUBLE),
    14: ("zeroThreshold", DOUBLE),
})
QUANTILE = Table("SummaryDataPoint.ValueAtQuantile", {1: ("quantile", DOUBLE), 2: ("value", DOUBLE)})
SUMMARY_POINT = Table("SummaryDataPoint", {
    7: ("attributes", ATTRS), 2: ("startTimeUnixNano", FIX64), 3: ("timeUnixNano", FIX64),
    4: ("count", FIX64), 5: ("sum", DOUBLE), 6: ("quantileValues", LIST, QUANTILE), 8: ("flags", UINT),
})
GAUGE = Table("Gauge", {1: ("dataPoints", LIST, NUMBER_POINT)})
SUM = Table("Sum", {1: ("dataPoints", LIST, NUMBER_POINT), 2: ("aggregationTemporality", UINT),
                    3: ("isMonotonic", BOOL)})
HISTOGRAM = Table("Histogram", {1: ("dataPoints", LIST, HISTOGRAM_POINT), 2: ("aggregationTemporality", UINT)})
EXP_HISTOGRAM = Table("ExponentialHistogram", {1: ("dataPoints", LIST, EXP_HISTOGRAM_POINT),
                                               2: ("aggregationTemporality", UINT)})
SUMMARY = Table("Summary", {1: ("dataPoints", LIST, SUMMARY_POINT)})
METRIC = Table("Metric", {
    1: ("name", STR), 2: ("description", STR), 3: ("unit", STR), 5: ("gauge", MSG, GAUGE),
    7: ("sum", MSG, SUM), 9: ("histogram", MSG, HISTOGRAM), 10: ("exponentialHistogram", MSG, EXP_HISTOGRAM),
    11: ("summary", MSG, SUMMARY),
})
SCOPE_METRICS = Table("ScopeMetrics", {2: ("metrics", LIST, METRIC)})  # the scope itself is not kept
RESOURCE_METRICS = Table("ResourceMetrics", {1: ("resource", MSG, RESOURCE), 2: ("scopeMetrics", LIST, SCOPE_METRICS)})
METRICS_REQUEST = Table("ExportMetricsServiceRequest", {1: ("resourceMetrics", LIST, RESOURCE_METRICS)})
