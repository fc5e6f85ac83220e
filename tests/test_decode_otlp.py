"""OTLP decoders: protobuf and OTLP/JSON requests for all three signals round-trip."""

from __future__ import annotations

import base64

import orjson
import pytest
from tests.decode_samples import (PARENT, RESOURCE, SPAN, T0, TRACE, logs_json, logs_pb, metrics_json, metrics_pb,
                            spans_json, spans_pb)

from pipeline.ingest.decode import DecodeResult, decode_batch

KAFKA_TS = 1_800_000_000_000_000_000


def one(kind: str, value: bytes) -> DecodeResult:
    r = decode_batch(kind, [value], [KAFKA_TS])
    assert r.errors == []
    return r


def check_spans(r: DecodeResult) -> None:
    assert len(r.spans) == 2
    s, root = r.spans
    assert s.trace_id == TRACE.hex() and s.span_id == SPAN.hex() and s.parent_span_id == PARENT.hex()
    assert s.id == TRACE.hex() + SPAN.hex()
    assert (s.name, s.kind, s.start_ns, s.end_ns) == ("GET /cart", 2, T0, T0 + 5_000_000)
    assert (s.status_code, s.status_message) == (2, "upstream timeout")
    assert (s.service, s.instance, s.host) == ("checkout", "checkout-7", "node-1")
    assert s.resource == RESOURCE
    assert s.attributes == {"http.method": "GET", "http.status_code": "503", "ratio": "0.25", "cached": "false",
                            "tags": '["a",1]', "ctx": '{"k":"v"}', "blob": base64.b64encode(b"\x00\x01").decode()}
    assert s.events == [{"time_ns": T0 + 1000, "name": "exception", "attributes": {"exception.type": "TimeoutError"}}]
    assert root.parent_span_id == "" and root.kind == 3 and root.status_code == 0
    assert (root.service, root.host, root.instance) == ("web", "web-abc", "web-abc")  # the pod is the instance


def test_protobuf_spans_round_trip():
    check_spans(one("otlp_spans", spans_pb()))


@pytest.mark.parametrize("names", [True, False])
@pytest.mark.parametrize("string_times", [True, False])
def test_json_spans_round_trip_with_enum_names_or_ints_and_string_or_int_times(names, string_times):
    check_spans(one("otlp_spans", spans_json(kind_names=names, string_times=string_times)))


def test_json_and_protobuf_spans_decode_identically():
    assert one("otlp_spans", spans_json()).spans == one("otlp_spans", spans_pb()).spans


def test_json_with_leading_whitespace_is_detected_as_json():
    assert len(one("otlp_spans", b" \n\t" + spans_json()).spans) == 2


def test_snake_case_keys_are_accepted():
    doc = orjson.loads(spans_json())
    rs = doc.pop("resourceSpans")[0]
    rs["scope_spans"] = rs.pop("scopeSpans")
    sp = rs["scope_spans"][0]["spans"][0]
    for camel, snake in (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"),
                         ("startTimeUnixNano", "start_time_unix_nano"), ("endTimeUnixNano", "end_time_unix_nano")):
        sp[snake] = sp.pop(camel)
    doc["resource_spans"] = [rs]
    s = one("otlp_spans", orjson.dumps(doc)).spans[0]
    assert (s.trace_id, s.span_id, s.parent_span_id, s.start_ns) == (TRACE.hex(), SPAN.hex(), PARENT.hex(), T0)


def check_logs(r: DecodeResult) -> None:
    assert len(r.logs) == 2
    a, b = r.logs
    assert (a.time_ns, a.observed_ns, a.severity_number, a.severity_text) == (T0, T0 + 7, 17, "ERROR")
    assert (a.trace_id, a.span_id, a.body) == (TRACE.hex(), SPAN.hex(), "payment failed")
    assert (a.service, a.instance, a.host, a.resource) == ("checkout", "checkout-7", "node-1", RESOURCE)
    assert a.attributes == {"user": "u1", "attempt": "3"}
    # No producer time: the observed time stands in; a structured body becomes JSON text.
    assert (b.time_ns, b.observed_ns, b.severity_number, b.trace_id) == (T0 + 9, T0 + 9, 9, "")
    assert orjson.loads(b.body) == {"msg": "structured", "n": 1}
    assert len({a.id, b.id}) == 2 and all(len(x.id) == 32 for x in (a, b))


def test_protobuf_logs_round_trip():
    check_logs(one("otlp_logs", logs_pb()))


@pytest.mark.parametrize("names", [True, False])
def test_json_logs_round_trip(names):
    check_logs(one("otlp_logs", logs_json(names)))


def test_json_and_protobuf_logs_get_the_same_ids():
    assert [x.id for x in one("otlp_logs", logs_json()).logs] == [x.id for x in one("otlp_logs", logs_pb()).logs]


def test_log_without_any_time_takes_the_kafka_timestamp():
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}
    log = one("otlp_logs", orjson.dumps(doc)).logs[0]
    assert (log.time_ns, log.observed_ns, log.service) == (KAFKA_TS, KAFKA_TS, "")


def check_metrics(r: DecodeResult) -> None:
    by = {p.name: p for p in r.metrics}
    assert len(r.metrics) == 5 and set(by) == {"cpu.utilization", "requests", "latency", "latency.exp", "rpc.duration"}
    for p in r.metrics:
        assert (p.service, p.instance, p.host, p.resource) == ("checkout", "checkout-7", "node-1", RESOURCE)
        assert p.time_ns == T0 and len(p.id) == 32
    g = by["cpu.utilization"]
    assert (g.type, g.value, g.unit, g.attributes) == ("gauge", 0.75, "1", {"cpu": "0"})
    s = by["requests"]
    assert (s.type, s.value, s.is_monotonic, s.temporality, s.start_time_ns) == ("sum", 1234.0, True, 2,
                                                                                T0 - 60_000_000_000)
    [ex] = s.exemplars
    assert (ex.time_ns, ex.value, ex.trace_id, ex.span_id) == (T0 - 5, 1.0, TRACE.hex(), SPAN.hex())
    h = by["latency"]
    assert (h.type, h.count, h.sum, h.value, h.min, h.max, h.temporality) == ("histogram", 6, 123.5, 123.5,
                                                                              1.5, 80.0, 1)
    assert (h.bucket_bounds, h.bucket_counts) == ([10.0, 50.0], [1, 2, 3])
    assert [(e.value, e.trace_id) for e in h.exemplars] == [(80.0, TRACE.hex())]
    x = by["latency.exp"]
    assert (x.type, x.count, x.sum, x.value, x.exp_scale, x.exp_zero_count, x.min, x.max) == (
        "exp_histogram", 10, 55.0, 55.0, -2, 1, 0.0, 20.0)
    assert (x.exp_positive_offset, x.exp_positive_counts) == (-3, [4, 5])
    assert (x.exp_negative_offset, x.exp_negative_counts) == (2, [0])
    assert [(e.value, e.span_id) for e in x.exemplars] == [(2.5, SPAN.hex())]
    q = by["rpc.duration"]
    assert (q.type, q.count, q.sum, q.value, q.quantiles) == ("summary", 4, 2.0, 2.0, [(0.5, 0.4), (0.99, 1.2)])


def test_protobuf_metrics_round_trip_all_five_types():
    check_metrics(one("otlp_metrics", metrics_pb()))


def test_json_metrics_round_trip_all_five_types():
    check_metrics(one("otlp_metrics", metrics_json()))


def test_json_and_protobuf_metrics_decode_identically():
    assert one("otlp_metrics", metrics_json()).metrics == one("otlp_metrics", metrics_pb()).metrics


def test_several_messages_in_one_batch_keep_their_records():
    r = decode_batch("otlp_spans", [spans_pb(), spans_json()], [1, 2])
    assert r.errors == [] and len(r.spans) == 4


def test_protobuf_starting_with_newline_brace_is_not_mistaken_for_json():
    # Tag 0x0A is "\n"; a first resource of 123 (or 91) bytes puts "{" (or "[") right after it.
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    seen = set()
    for n in range(1, 120):
        req = ExportTraceServiceRequest()
        req.resource_spans.add().scope_spans.add().spans.add(
            trace_id=TRACE, span_id=SPAN, name="x" * n, start_time_unix_nano=T0, end_time_unix_nano=T0)
        value = req.SerializeToString()
        if value[:2] in (b"\n{", b"\n["):
            seen.add(value[:2])
            assert [s.name for s in one("otlp_spans", value).spans] == ["x" * n]
    assert seen == {b"\n{", b"\n["}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _fields(msg: bytes) -> list[bytes]:
    """Split one encoded message into its encoded fields (tag included), in order."""
    out, pos = [], 0
    while pos < len(msg):
        start = pos
        tag = 0
        shift = 0
        while True:
            b = msg[pos]
            pos += 1
            tag |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        wt = tag & 7
        if wt == 0:
            while msg[pos] & 0x80:
                pos += 1
            pos += 1
        elif wt == 1:
            pos += 8
        elif wt == 5:
            pos += 4
        else:
            ln = shift = 0
            while True:
                b = msg[pos]
                pos += 1
                ln |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            pos += ln
        out.append(msg[start:pos])
    return out


def _wrap(records: list[bytes]) -> bytes:
    """records -> field 2 of a scope -> field 2 of a resource -> field 1 of the request."""
    scope = b"".join(b"\x12" + _varint(len(r)) + r for r in records)
    resource = b"\x12" + _varint(len(scope)) + scope
    return b"\x0a" + _varint(len(resource)) + resource


def test_unpacked_repeated_fields_are_read_like_packed_ones():
    # Protobuf parsers must accept repeated scalars either packed or one field each.
    from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, Metric
    point = HistogramDataPoint(time_unix_nano=T0, count=6, explicit_bounds=[1.0, 2.0]).SerializeToString()
    point += b"".join(b"\x31" + n.to_bytes(8, "little") for n in (1, 2, 3))  # field 6, fixed64, x3
    histogram = b"\x0a" + _varint(len(point)) + point  # Histogram.data_points
    metric = Metric(name="h").SerializeToString() + b"\x4a" + _varint(len(histogram)) + histogram
    [p] = one("otlp_metrics", _wrap([metric])).metrics
    assert (p.name, p.type, p.count, p.bucket_counts, p.bucket_bounds) == ("h", "histogram", 6, [1, 2, 3], [1.0, 2.0])


@pytest.mark.parametrize("signal", ["spans", "logs"])
def test_fields_in_any_order_and_long_lengths_decode_the_same(signal):
    # Encoders may write fields in any order: reversed records (plus long names/values with
    # multi-byte lengths, a 2-byte tag for span flags, kind 0 omitted) must decode the same.
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLog
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
    from tests.decode_samples import kvs_pb
    records = []
    for i in range(3):
        if signal == "spans":
            r = PbSpan(trace_id=TRACE, span_id=bytes([i + 1]) * 8, parent_span_id=PARENT, name="n" * (100 + 50 * i),
                       kind=i, start_time_unix_nano=T0, end_time_unix_nano=T0 + i, flags=0x301)
            r.status.code = 2
            r.status.message = "m" * 200
            ev = r.events.add(time_unix_nano=T0, name="e")
            ev.attributes.extend(kvs_pb({"k": "v"}))
        else:
            r = PbLog(time_unix_nano=T0 + i, observed_time_unix_nano=T0, severity_number=9 + i, severity_text="INFO",
                      trace_id=TRACE, span_id=SPAN, flags=1)
            r.body.string_value = "b" * (120 + 10 * i)
        r.attributes.extend(kvs_pb({"short": "s", "long": "x" * 300, "n": -5, "f": 1.5, "list": [1, "a"]}))
        records.append(r.SerializeToString())
    kind = "otlp_" + signal
    forward = decode_batch(kind, [_wrap(records)], [1])
    backward = decode_batch(kind, [_wrap([b"".join(reversed(_fields(r))) for r in records])], [1])
    assert forward.errors == backward.errors == []
    got_f, got_b = getattr(forward, signal), getattr(backward, signal)
    assert len(got_f) == 3 and got_f == got_b
    first = got_f[0]
    assert first.attributes == {"short": "s", "long": "x" * 300, "n": "-5", "f": "1.5", "list": '[1,"a"]'}
    if signal == "spans":
        assert [s.name for s in got_f] == ["n" * 100, "n" * 150, "n" * 200] and [s.kind for s in got_f] == [0, 1, 2]
        assert first.status_message == "m" * 200 and first.events[0]["attributes"] == {"k": "v"}
    else:
        assert [x.body for x in got_f] == ["b" * 120, "b" * 130, "b" * 140]
        assert [x.severity_number for x in got_f] == [9, 10, 11]
