"""Property tests: decode_batch never raises, whatever bytes arrive, for every kind; damaged
valid messages give errors, never a crash; random spans decode the same from both encodings."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pipeline.ingest.decode import KINDS, DecodeResult, decode_batch
from pipeline.model import LogRecord, MetricPoint, Span
from tests.decode_samples import any_json, any_pb, logs_pb, metrics_pb, spans_json, spans_pb

SAMPLES = {"otlp_spans": [spans_pb(), spans_json()], "otlp_logs": [logs_pb()], "otlp_metrics": [metrics_pb()],
           "events": [b'{"signal":"log","body":"x"}\n{"signal":"metric","name":"m","type":"gauge","value":1,"time":1}'],
           "raw_logs": [b"a line\nanother"]}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def well_formed(r: DecodeResult, n: int) -> None:
    assert all(type(x) is Span for x in r.spans)
    assert all(type(x) is LogRecord and len(x.id) == 32 for x in r.logs)
    assert all(type(x) is MetricPoint and len(x.id) == 32 for x in r.metrics)
    for e in r.errors:
        assert 0 <= e.index < n and e.reason
        assert not e.reason.startswith("internal decoder error"), e.reason


@FAST
@given(kind=st.sampled_from(KINDS), values=st.lists(st.binary(max_size=300), max_size=4))
def test_arbitrary_bytes_never_raise(kind, values):
    r = decode_batch(kind, values, [1] * len(values))
    well_formed(r, len(values))


@FAST
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_damaged_valid_messages_never_raise(kind, data):
    sample = data.draw(st.sampled_from(SAMPLES[kind]))
    cut = data.draw(st.integers(0, len(sample)))
    pos = data.draw(st.integers(0, len(sample) - 1))
    byte = data.draw(st.integers(0, 255))
    flipped = sample[:pos] + bytes([byte]) + sample[pos + 1:]
    values = [sample[:cut], flipped, sample]
    r = decode_batch(kind, values, [1, 2, 3])
    well_formed(r, 3)
    assert not any(e.index == 2 for e in r.errors)  # the intact copy is never blamed


@FAST
@given(st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(), lambda c: st.lists(c)
                    | st.dictionaries(st.text(), c), max_leaves=20))
def test_arbitrary_json_never_raises(doc):
    value = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) if doc is not None else b"null"
    for kind in KINDS:
        well_formed(decode_batch(kind, [value, b"{" + value], [1, 2]), 2)


attr_values = st.one_of(st.text(max_size=20), st.integers(-2**63, 2**63 - 1), st.booleans(),
                        st.floats(allow_nan=False, allow_infinity=False), st.binary(max_size=8),
                        st.lists(st.text(max_size=5), max_size=3))


@FEWER
@given(st.lists(st.tuples(st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8),
                          st.text(max_size=30), st.integers(0, 5), st.integers(1, 1_700_000_000 * 10**9), st.integers(0, 10**9),
                          st.dictionaries(st.text(min_size=1, max_size=10), attr_values, max_size=5)),
                min_size=1, max_size=5))
def test_random_spans_decode_the_same_from_protobuf_and_json(spans):
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    js = []
    for tid, sid, name, kind, start, dur, attrs in spans:
        s = ss.spans.add(trace_id=tid, span_id=sid, name=name, kind=kind, start_time_unix_nano=start,
                         end_time_unix_nano=start + dur)
        for k, v in attrs.items():
            s.attributes.add(key=k, value=any_pb(v))
        js.append({"traceId": tid.hex(), "spanId": sid.hex(), "name": name, "kind": kind,
                   "startTimeUnixNano": str(start), "endTimeUnixNano": start + dur,
                   "attributes": [{"key": k, "value": any_json(v)} for k, v in attrs.items()]})
    pb = decode_batch("otlp_spans", [req.SerializeToString()], [0])
    jr = decode_batch("otlp_spans", [orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": js}]}]})], [0])
    bad = sum(1 for _, sid, *_ in spans if sid == bytes(8)) + sum(1 for tid, *_ in spans if tid == bytes(16))
    assert pb.spans == jr.spans
    assert len(pb.spans) + len(pb.errors) >= len(spans) and (bad > 0) == bool(pb.errors)


OTLP_KEYS = ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId", "attributes", "key",
             "value", "stringValue", "intValue", "doubleValue", "boolValue", "bytesValue", "arrayValue", "values",
             "kvlistValue", "startTimeUnixNano", "endTimeUnixNano", "kind", "status", "code", "message", "events",
             "name", "resource", "resourceLogs", "scopeLogs", "logRecords", "body", "severityNumber",
             "severityText", "timeUnixNano", "observedTimeUnixNano", "resourceMetrics", "scopeMetrics", "metrics",
             "gauge", "sum", "histogram", "exponentialHistogram", "summary", "dataPoints", "asDouble", "asInt",
             "exemplars", "bucketCounts", "explicitBounds", "quantileValues", "quantile", "positive", "negative",
             "offset", "scale", "zeroCount", "count", "min", "max", "isMonotonic", "aggregationTemporality",
             "flags", "signal", "trace_id", "span_id", "start", "end", "time", "type", "severity", "quantiles",
             "bucket_counts", "bucket_bounds", "service", "unit"]
LEAVES = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
          | st.text(max_size=8) | st.sampled_from(["NaN", "-Infinity", "12", "SPAN_KIND_SERVER", "span", "log",
                                                   "metric", "gauge", "histogram", "summary", "exp_histogram",
                                                   "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
                                                   "2024-05-01T12:00:00Z"]))
OTLP_ISH = st.recursive(LEAVES, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(OTLP_KEYS), c,
                                                                                     max_size=5), max_leaves=40)


@FAST
@given(st.dictionaries(st.sampled_from(OTLP_KEYS), OTLP_ISH, max_size=4))
def test_otlp_shaped_json_of_any_types_never_raises(doc):
    value = orjson.dumps(doc)
    for kind in KINDS:
        well_formed(decode_batch(kind, [value], [1]), 1)
