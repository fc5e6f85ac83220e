"""Metric points from OTLP ExportMetricsServiceRequest, protobuf or OTLP/JSON.

One MetricPoint per data point, for all five OTLP types. `value` is the number for gauges and
sums, and the sum for histograms, exponential histograms and summaries.
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
from pipeline.ingest.decode.records import finish_point, make_exemplar, text_id
from pipeline.ingest.decode.result import RecordError
from pipeline.ingest.decode.values import json_attrs, json_double, json_int
from pipeline.model import Exemplar, MetricPoint

_LEVELS = (("resourceMetrics", "resource_metrics"), ("scopeMetrics", "scope_metrics"), ("metrics", "metrics"))
_NAMES = ("resourceMetrics", "scopeMetrics", "metrics")
# (OTLP/JSON key, protobuf name, model type)
_TYPES = (("gauge", "gauge", "gauge"), ("sum", "sum", "sum"), ("histogram", "histogram", "histogram"),
          ("exponentialHistogram", "exponential_histogram", "exp_histogram"), ("summary", "summary", "summary"))
_BY_PB_NAME = {snake: (key, mtype) for key, snake, mtype in _TYPES}
_NO_DATA = "has no data (expected one of gauge, sum, histogram, exponentialHistogram, summary)"


def metrics_from_json(doc: dict, errors: list[str]) -> list[MetricPoint]:
    """Every good point of one decoded OTLP/JSON request."""
    out: list[MetricPoint] = []
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
                p = MetricPoint(name=name, type=mtype, time_ns=0, unit=unit, is_monotonic=bool(monotonic),
                                temporality=temporality)
                _fill(p, dp)
                out.append(finish_point(p, res))
            except RecordError as exc:
                errors.append(exc.at(f"{where}.{key}.dataPoints[{n}]"))
    return out


def metrics_from_proto(req: ExportMetricsServiceRequest, errors: list[str]) -> list[MetricPoint]:
    """Every good point of one parsed ExportMetricsServiceRequest; bad ones add to `errors`."""
    out: list[MetricPoint] = []
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
                p = MetricPoint(name=name, type=mtype, time_ns=dp.time_unix_nano, unit=unit, is_monotonic=monotonic,
                                temporality=temporality, start_time_ns=dp.start_time_unix_nano,
                                attributes=attributes(dp.attributes, "attributes"))
                if which != "summary":  # the one point type without exemplars
                    p.exemplars = [_pb_exemplar(e, f"exemplars[{x}]") for x, e in enumerate(dp.exemplars)]
                _pb_fill(p, dp, which)
                out.append(finish_point(p, res))
            except RecordError as exc:
                errors.append(exc.at(f"{record_path(_NAMES, i, j, k)}.{key}.dataPoints[{n}]"))
    return out


def _pb_fill(p: MetricPoint, dp: Any, which: str) -> None:
    """The type-specific fields of a protobuf data point, checked like their JSON forms."""
    if which == "gauge" or which == "sum":
        value = _pb_number(dp)
        if value is None:
            stale = dp.flags & 1
            raise RecordError("", "no value (asDouble or asInt)" + (
                "; it is flagged 'no recorded value' (a staleness marker)" if stale else ""))
        p.value = value
        return
    p.count = dp.count
    p.sum = p.value = dp.sum
    if which == "summary":
        p.quantiles = [(q.quantile, q.value) for q in dp.quantile_values if q.value == q.value]
        return
    if dp.HasField("min"):
        p.min = dp.min
    if dp.HasField("max"):
        p.max = dp.max
    if which == "histogram":
        p.bucket_counts = list(dp.bucket_counts)
        p.bucket_bounds = list(dp.explicit_bounds)
        _check_buckets(p)
        return
    p.exp_scale = dp.scale
    p.exp_zero_count = dp.zero_count
    pos, neg = dp.positive, dp.negative
    p.exp_positive_offset, p.exp_positive_counts = pos.offset, list(pos.bucket_counts)
    p.exp_negative_offset, p.exp_negative_counts = neg.offset, list(neg.bucket_counts)


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


def _check_buckets(p: MetricPoint) -> None:
    if p.bucket_counts and len(p.bucket_counts) != len(p.bucket_bounds) + 1:
        raise RecordError("bucketCounts", f"{len(p.bucket_counts)} counts for {len(p.bucket_bounds)} bounds "
                                          "(expected one more count than bounds)")


def _fill(p: MetricPoint, dp: dict) -> None:
    p.attributes = json_attrs(dp.get("attributes"), "attributes")
    p.start_time_ns = ns(get(dp, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano")
    p.time_ns = ns(get(dp, "timeUnixNano", "time_unix_nano"), "timeUnixNano")
    p.exemplars = [_exemplar(e, f"exemplars[{i}]") for i, e in enumerate(items(dp.get("exemplars"), "exemplars"))]
    t = p.type
    if t == "gauge" or t == "sum":
        value = _number(dp, "")
        if value is None:
            flags = dp.get("flags")
            stale = type(flags) is int and flags & 1
            raise RecordError("", "no value (asDouble or asInt)" + (
                "; it is flagged 'no recorded value' (a staleness marker)" if stale else ""))
        p.value = value
        return
    p.count = unsigned(dp.get("count"), "count")
    s = dp.get("sum")
    p.sum = p.value = 0.0 if s is None else json_double(s, "sum")
    if t == "summary":
        for i, q in enumerate(items(get(dp, "quantileValues", "quantile_values"), "quantileValues")):
            q = obj(q, f"quantileValues[{i}]")
            value = json_double(q.get("value", 0.0), f"quantileValues[{i}].value")
            if not math.isnan(value):
                p.quantiles.append((json_double(q.get("quantile", 0.0), f"quantileValues[{i}].quantile"), value))
        return
    if dp.get("min") is not None:
        p.min = json_double(dp["min"], "min")
    if dp.get("max") is not None:
        p.max = json_double(dp["max"], "max")
    if t == "histogram":
        p.bucket_counts = [unsigned(c, "bucketCounts") for c in items(get(dp, "bucketCounts", "bucket_counts"),
                                                                      "bucketCounts")]
        p.bucket_bounds = [json_double(b, "explicitBounds") for b in items(get(dp, "explicitBounds", "explicit_bounds"),
                                                                           "explicitBounds")]
        _check_buckets(p)
        return
    p.exp_scale = json_int(dp.get("scale", 0), "scale")
    p.exp_zero_count = unsigned(get(dp, "zeroCount", "zero_count"), "zeroCount")
    for side in ("positive", "negative"):
        b = obj(dp.get(side), side)
        offset = json_int(b.get("offset", 0), side + ".offset")
        counts = [unsigned(c, side + ".bucketCounts") for c in items(get(b, "bucketCounts", "bucket_counts"),
                                                                     side + ".bucketCounts")]
        if side == "positive":
            p.exp_positive_offset, p.exp_positive_counts = offset, counts
        else:
            p.exp_negative_offset, p.exp_negative_counts = offset, counts


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
