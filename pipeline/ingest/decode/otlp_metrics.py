"""Metric points from OTLP ExportMetricsServiceRequest, protobuf or OTLP/JSON.

One row of MetricPoint's fields per data point (records.point_row), for all five OTLP types:
the caller appends the rows to the points' columns, so no MetricPoint is built here. `value` is
the number for gauges and sums, and the sum for histograms, exponential histograms and summaries.
"""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar as Exemplar_pb

from pipeline.ingest.decode import enums
from pipeline.ingest.decode.jsonfields import enum, get, items, ns, obj, string, unsigned
from pipeline.ingest.decode.otlp_pb import attributes, record_path, walk as pb_walk
from pipeline.ingest.decode.otlp_walk import walk
from pipeline.ingest.decode.records import Shape, make_exemplar, plain_shape, point_row, text_id
from pipeline.ingest.decode.result import RecordError
from pipeline.ingest.decode.values import json_attrs, json_double, json_int
from pipeline.model import Exemplar

_LEVELS = (("resourceMetrics", "resource_metrics"), ("scopeMetrics", "scope_metrics"), ("metrics", "metrics"))
_NAMES = ("resourceMetrics", "scopeMetrics", "metrics")
# (OTLP/JSON key, protobuf name, model type)
_TYPES = (("gauge", "gauge", "gauge"), ("sum", "sum", "sum"), ("histogram", "histogram", "histogram"),
          ("exponentialHistogram", "exponential_histogram", "exp_histogram"), ("summary", "summary", "summary"))
_BY_PB_NAME = {snake: (key, mtype) for key, snake, mtype in _TYPES}
_NO_DATA = "has no data (expected one of gauge, sum, histogram, exponentialHistogram, summary)"


def metrics_from_json(doc: dict, errors: list[str]) -> list[tuple]:
    """Every good point of one decoded OTLP/JSON request, as rows for the points' columns
    (records.point_row); bad ones add to `errors`."""
    out: list[tuple] = []
    for metric, res, where in walk(doc, _LEVELS, errors):
        try:
            name = string(metric.get("name"), "name")
            unit = string(metric.get("unit"), "unit")
            for key, snake, mtype in _TYPES:
                data = get(metric, key, snake)
                if data is not None:
                    break
            else:
                raise RecordError("", f"metric {name!r} {_NO_DATA}")
            data = obj(data, key)
            points = items(get(data, "dataPoints", "data_points"), key + ".dataPoints")
            monotonic = get(data, "isMonotonic", "is_monotonic")
            if monotonic is not None and type(monotonic) is not bool:
                raise RecordError(key + ".isMonotonic", "is not true/false")
            temporality = enum(get(data, "aggregationTemporality", "aggregation_temporality"),
                               enums.TEMPORALITY, key + ".aggregationTemporality")
        except RecordError as exc:
            errors.append(exc.at(where))
            continue
        for n, dp in enumerate(points):
            try:
                dp = obj(dp, "")
                attrs = json_attrs(dp.get("attributes"), "attributes")
                start = ns(get(dp, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano")
                time_ns = ns(get(dp, "timeUnixNano", "time_unix_nano"), "timeUnixNano")
                exemplars = [_exemplar(e, f"exemplars[{i}]") for i, e in enumerate(items(dp.get("exemplars"),
                                                                                        "exemplars"))]
                value, shape = _json_shape(mtype, dp)
                out.append(point_row(name, mtype, time_ns, value, start, unit, attrs, bool(monotonic), temporality,
                                     shape, exemplars, res))
            except RecordError as exc:
                errors.append(exc.at(f"{where}.{key}.dataPoints[{n}]"))
    return out


def metrics_from_proto(req: ExportMetricsServiceRequest, errors: list[str]) -> list[tuple]:
    """Every good point of one parsed ExportMetricsServiceRequest, as rows for the points'
    columns (records.point_row); bad ones add to `errors`."""
    out: list[tuple] = []
    for metric, res, i, j, k in pb_walk(req.resource_metrics, "scope_metrics", "metrics", _NAMES, errors):
        which = metric.WhichOneof("data")
        if which is None:
            errors.append(f"{record_path(_NAMES, i, j, k)}: metric {metric.name!r} {_NO_DATA}")
            continue
        key, mtype = _BY_PB_NAME[which]
        data = getattr(metric, which)
        name, unit = metric.name, metric.unit
        monotonic = which == "sum" and data.is_monotonic
        temporality = data.aggregation_temporality if which in ("sum", "histogram", "exponential_histogram") else 0
        for n, dp in enumerate(data.data_points):
            try:
                attrs = attributes(dp.attributes, "attributes")
                # the summary is the one point type without exemplars
                exemplars = [] if which == "summary" else [_pb_exemplar(e, f"exemplars[{x}]")
                                                           for x, e in enumerate(dp.exemplars)]
                value, shape = _pb_shape(dp, which)
                out.append(point_row(name, mtype, dp.time_unix_nano, value, dp.start_time_unix_nano, unit, attrs,
                                     monotonic, temporality, shape, exemplars, res))
            except RecordError as exc:
                errors.append(exc.at(f"{record_path(_NAMES, i, j, k)}.{key}.dataPoints[{n}]"))
    return out


def _pb_shape(dp: Any, which: str) -> tuple[float, Shape]:
    """The value and type-specific fields of a protobuf data point, checked like their JSON forms."""
    if which == "gauge" or which == "sum":
        value = _pb_number(dp)
        if value is None:
            stale = dp.flags & 1
            raise RecordError("", "no value (asDouble or asInt)" + (
                "; it is flagged 'no recorded value' (a staleness marker)" if stale else ""))
        return value, plain_shape()
    total = dp.sum
    if which == "summary":
        quantiles = [(q.quantile, q.value) for q in dp.quantile_values if q.value == q.value]
        return total, (dp.count, total, None, None, [], [], 0, 0, 0, [], 0, [], quantiles)
    low = dp.min if dp.HasField("min") else None
    high = dp.max if dp.HasField("max") else None
    if which == "histogram":
        counts, bounds = list(dp.bucket_counts), list(dp.explicit_bounds)
        _check_buckets(counts, bounds)
        return total, (dp.count, total, low, high, bounds, counts, 0, 0, 0, [], 0, [], [])
    pos, neg = dp.positive, dp.negative
    return total, (dp.count, total, low, high, [], [], dp.scale, dp.zero_count, pos.offset, list(pos.bucket_counts),
                   neg.offset, list(neg.bucket_counts), [])


def _pb_number(m: Any) -> float | None:
    """as_double or as_int of a NumberDataPoint or Exemplar, None when neither is set.

    A non-zero member must be the one set, so WhichOneof (slow with upb) is only asked about zeros.
    """
    x = m.as_double
    if x:
        return x
    i = m.as_int
    if i:
        return float(i)
    which = m.WhichOneof("value")
    return None if which is None else float(getattr(m, which))  # a zero (or -0.0) that was set


def _pb_exemplar(e: Exemplar_pb, where: str) -> Exemplar:
    return make_exemplar(e.time_unix_nano, _pb_number(e) or 0.0, text_id(e.trace_id.hex(), where + ".traceId", 16),
                         text_id(e.span_id.hex(), where + ".spanId", 8), where)


def _check_buckets(counts: list[int], bounds: list[float]) -> None:
    if counts and len(counts) != len(bounds) + 1:
        raise RecordError("bucketCounts", f"{len(counts)} counts for {len(bounds)} bounds "
                                          "(expected one more count than bounds)")


def _json_shape(t: str, dp: dict) -> tuple[float, Shape]:
    """The value and type-specific fields of an OTLP/JSON data point of model type `t`."""
    if t == "gauge" or t == "sum":
        value = _number(dp, "")
        if value is None:
            flags = dp.get("flags")
            stale = type(flags) is int and flags & 1
            raise RecordError("", "no value (asDouble or asInt)" + (
                "; it is flagged 'no recorded value' (a staleness marker)" if stale else ""))
        return value, plain_shape()
    count = unsigned(dp.get("count"), "count")
    s = dp.get("sum")
    total = 0.0 if s is None else json_double(s, "sum")
    if t == "summary":
        quantiles = []
        for i, q in enumerate(items(get(dp, "quantileValues", "quantile_values"), "quantileValues")):
            q = obj(q, f"quantileValues[{i}]")
            value = json_double(q.get("value", 0.0), f"quantileValues[{i}].value")
            if not math.isnan(value):
                quantiles.append((json_double(q.get("quantile", 0.0), f"quantileValues[{i}].quantile"), value))
        return total, (count, total, None, None, [], [], 0, 0, 0, [], 0, [], quantiles)
    low = json_double(dp["min"], "min") if dp.get("min") is not None else None
    high = json_double(dp["max"], "max") if dp.get("max") is not None else None
    if t == "histogram":
        counts = [unsigned(c, "bucketCounts") for c in items(get(dp, "bucketCounts", "bucket_counts"), "bucketCounts")]
        bounds = [json_double(b, "explicitBounds") for b in items(get(dp, "explicitBounds", "explicit_bounds"),
                                                                  "explicitBounds")]
        _check_buckets(counts, bounds)
        return total, (count, total, low, high, bounds, counts, 0, 0, 0, [], 0, [], [])
    scale = json_int(dp.get("scale", 0), "scale")
    zero = unsigned(get(dp, "zeroCount", "zero_count"), "zeroCount")
    sides: list = []
    for side in ("positive", "negative"):
        b = obj(dp.get(side), side)
        sides.append(json_int(b.get("offset", 0), side + ".offset"))
        sides.append([unsigned(c, side + ".bucketCounts") for c in items(get(b, "bucketCounts", "bucket_counts"),
                                                                         side + ".bucketCounts")])
    return total, (count, total, low, high, [], [], scale, zero, *sides, [])


def _number(d: dict, where: str) -> float | None:
    """asDouble or asInt of a NumberDataPoint or Exemplar (None when neither is set)."""
    v = get(d, "asDouble", "as_double")
    if v is not None:
        return json_double(v, where + "asDouble")
    v = get(d, "asInt", "as_int")
    return None if v is None else float(json_int(v, where + "asInt"))


def _exemplar(e: object, where: str) -> Exemplar:
    e = obj(e, where)
    return make_exemplar(ns(get(e, "timeUnixNano", "time_unix_nano"), where + ".timeUnixNano"),
                         _number(e, where + ".") or 0.0,
                         text_id(get(e, "traceId", "trace_id"), where + ".traceId", 16),
                         text_id(get(e, "spanId", "span_id"), where + ".spanId", 8), where)
