"""Malformed input: every problem is a DecodeError with a clear reason, nothing raises, and
the good records beside a bad one (same batch, or same message) survive."""

from __future__ import annotations

import math

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pipeline.ingest.decode import decode_batch
from pipeline.ingest.decode.values import ATTR_LIMIT, BODY_LIMIT
from tests.decode_samples import SPAN, T0, TRACE, kvs_pb, logs_pb, metrics_pb, spans_pb

GOOD = {"otlp_spans": spans_pb(), "otlp_logs": logs_pb(), "otlp_metrics": metrics_pb(),
        "events": b'{"signal":"log","body":"fine"}', "raw_logs": b"fine"}


def count(kind: str, r) -> int:
    return len(r.spans) + len(r.logs) + len(r.metrics)


def json_span(**over) -> dict:
    sp = {"traceId": TRACE.hex(), "spanId": SPAN.hex(), "name": "ok", "startTimeUnixNano": str(T0),
          "endTimeUnixNano": str(T0 + 1)}
    sp.update(over)
    return {k: v for k, v in sp.items() if v is not None}


def spans_doc(*spans: dict) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]})


def pb_span(**fields) -> bytes:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.spans.add(trace_id=TRACE, span_id=SPAN, name="good", start_time_unix_nano=T0, end_time_unix_nano=T0 + 1)
    base = dict(trace_id=TRACE, span_id=bytes.fromhex("00000000000000aa"), name="bad",
                start_time_unix_nano=T0, end_time_unix_nano=T0 + 1)
    base.update(fields)
    ss.spans.add(**base)
    return req.SerializeToString()


def nested(depth: int) -> dict:
    value: dict = {"stringValue": "x"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


def deep_list(depth: int) -> list:
    value: list = ["x"]
    for _ in range(depth):
        value = [value]
    return value


def with_bad_utf8_name() -> bytes:
    good = pb_span(name="XXXX")
    return good.replace(b"XXXX", b"X\xffXX")


# Whole-message problems: (kind, message, words the reason must contain).
MESSAGE_CASES = [
    ("truncated protobuf", "otlp_spans", spans_pb()[:-7], "truncated"),
    ("truncated protobuf logs", "otlp_logs", logs_pb()[: len(logs_pb()) // 2], "truncated"),
    ("truncated protobuf metrics", "otlp_metrics", metrics_pb()[:-3], "truncated"),
    ("varint cut at the end", "otlp_spans", b"\x0a\xff", "truncated"),
    ("bad JSON", "otlp_spans", b'{"resourceSpans": [', "invalid JSON"),
    ("invalid UTF-8 in JSON", "otlp_logs", b'{"resourceLogs": [{"x": "\xff\xfe"}]}', "invalid JSON"),
    ("invalid UTF-8 in protobuf string", "otlp_spans", with_bad_utf8_name(), "invalid UTF-8"),
    ("empty message", "otlp_spans", b"", "empty"),
    ("blank message", "otlp_metrics", b" \n ", "empty"),
    ("tombstone (None)", "otlp_logs", None, "empty"),
    ("JSON array at top level", "otlp_spans", b"[1, 2]", "a list, expected an object"),
    ("JSON object of the wrong signal", "otlp_spans", b'{"resourceLogs": []}', "no resourceSpans"),
    ("resourceSpans not a list", "otlp_spans", b'{"resourceSpans": "x"}', "resourceSpans: is a string"),
    ("protobuf without the request field", "otlp_logs", b"\x10\x01", "no resourceLogs"),
    ("protobuf group wire type", "otlp_spans", b"\x0b\x01\x02", "cannot read this ExportTraceServiceRequest"),
    ("plain text to an OTLP topic", "otlp_spans", b"hello world, not protobuf", "protobuf"),
    ("events: empty", "events", b"\n\n", "empty"),
    ("raw: empty", "raw_logs", b"", "empty"),
]


@pytest.mark.parametrize("what,kind,value,words", MESSAGE_CASES, ids=[c[0] for c in MESSAGE_CASES])
def test_unreadable_message_is_one_error_and_neighbours_survive(what, kind, value, words):
    good = GOOD[kind]
    r = decode_batch(kind, [good, value, good], [1, 2, 3])
    assert [e.index for e in r.errors] == [1], r.errors
    assert words in r.errors[0].reason, r.errors[0].reason
    alone = decode_batch(kind, [good], [1])
    assert count(kind, r) == 2 * count(kind, alone)


# Record problems: (kind, message, words, records that must survive from the same message).
RECORD_CASES = [
    ("span id of 3 bytes (protobuf)", "otlp_spans", pb_span(span_id=b"abc"),
     "resourceSpans[0].scopeSpans[0].spans[1].spanId: 3 bytes, expected 8", 1),
    ("trace id all zero (protobuf)", "otlp_spans", pb_span(trace_id=bytes(16)), "traceId: all zero", 1),
    ("span id missing (protobuf)", "otlp_spans", pb_span(span_id=b""), "spanId: missing", 1),
    ("end before start (protobuf)", "otlp_spans", pb_span(end_time_unix_nano=T0 - 1), "before the start", 1),
    ("unknown kind number (protobuf)", "otlp_spans", pb_span(kind=9), "kind: 9 is not a span kind", 1),
    ("non-hex id (JSON)", "otlp_spans", spans_doc(json_span(), json_span(spanId="zzzzzzzzzzzzzzzz")),
     "spans[1].spanId: 'zzzzzzzzzzzzzzzz' is not hex", 1),
    ("unpadded base64 span id (JSON)", "otlp_spans", spans_doc(json_span(spanId="7uGbfsPBsXQ"), json_span()),
     "spanId: '7uGbfsPBsXQ' is not hex (looks like base64; OTLP/JSON ids are hex)", 1),
    ("base64 id (JSON)", "otlp_spans", spans_doc(json_span(), json_span(traceId="W47/95gDgQPSabYzgT/GDA==")),
     "looks like base64", 1),
    ("id of odd length (JSON)", "otlp_spans", spans_doc(json_span(spanId="abc"), json_span()),
     "spans[0].spanId: 3 hex digits, expected 16", 1),
    ("id of wrong type (JSON)", "otlp_spans", spans_doc(json_span(traceId=12), json_span()),
     "traceId: is a number, expected a hex string", 1),
    ("name of wrong type (JSON)", "otlp_spans", spans_doc(json_span(name=5), json_span()),
     "name: is a number, expected a string", 1),
    ("time not a number (JSON)", "otlp_spans", spans_doc(json_span(startTimeUnixNano="soon"), json_span()),
     "startTimeUnixNano: 'soon' is not a count of nanoseconds", 1),
    ("time of unicode digits (JSON)", "otlp_spans", spans_doc(json_span(startTimeUnixNano="²³"), json_span()),
     "startTimeUnixNano: '²³' is not a count of nanoseconds", 1),
    ("time of 5000 digits (JSON)", "otlp_spans", spans_doc(json_span(endTimeUnixNano="9" * 5000), json_span()),
     "endTimeUnixNano: '99999", 1),
    ("unknown kind name (JSON)", "otlp_spans", spans_doc(json_span(kind="SPAN_KIND_SIDEWAYS"), json_span()),
     "kind: 'SPAN_KIND_SIDEWAYS' is not a number or a known name (such as SPAN_KIND_INTERNAL", 1),
    ("attributes not a list (JSON)", "otlp_spans", spans_doc(json_span(attributes={"a": 1}), json_span()),
     "attributes: expected a list", 1),
    ("AnyValue of the wrong type (JSON)", "otlp_spans",
     spans_doc(json_span(attributes=[{"key": "a", "value": {"stringValue": 1}}]), json_span()),
     "stringValue is a number", 1),
    ("integer beyond 64 bits inside an array (JSON)", "otlp_spans",
     spans_doc(json_span(attributes=[{"key": "a", "value": {"arrayValue": {"values": [
         {"intValue": "123456789012345678901234567890"}]}}}]), json_span()),
     "is out of the 64-bit integer range", 1),
    ("values nested too deep (JSON)", "otlp_spans",
     spans_doc(json_span(attributes=[{"key": "a", "value": nested(40)}]), json_span()), "nested deeper than", 1),
    ("span not an object (JSON)", "otlp_spans", spans_doc(json_span(), "span"), "spans[1]: is not an object", 1),
    ("scopeSpans entry not an object", "otlp_spans",
     orjson.dumps({"resourceSpans": [{"scopeSpans": [7]}, {"scopeSpans": [{"spans": [json_span()]}]}]}),
     "resourceSpans[0].scopeSpans[0]: is a number, expected an object", 1),
    ("metric with no data", "otlp_metrics",
     orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
         {"name": "empty"}, {"name": "g", "gauge": {"dataPoints": [{"timeUnixNano": "5", "asDouble": 1}]}}]}]}]}),
     "metrics[0]: metric 'empty' has no data", 1),
    ("NaN gauge value", "otlp_metrics",
     orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "g", "gauge": {"dataPoints": [
         {"timeUnixNano": "5", "asDouble": "NaN"}, {"timeUnixNano": "5", "asDouble": 2}]}}]}]}]}),
     "gauge.dataPoints[0].value: nan is not a finite number", 1),
    ("histogram counts do not fit bounds", "otlp_metrics",
     orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "h", "histogram": {"dataPoints": [
         {"timeUnixNano": "5", "count": 1, "bucketCounts": [1, 0], "explicitBounds": [1.0, 2.0]},
         {"timeUnixNano": "5", "count": 1, "bucketCounts": [1], "explicitBounds": []}]}}]}]}]}),
     "bucketCounts: 2 counts for 2 bounds", 1),
    ("exemplar with a short trace id", "otlp_metrics",
     orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "g", "gauge": {"dataPoints": [
         {"timeUnixNano": "5", "asDouble": 1, "exemplars": [{"asDouble": 1, "traceId": "abcd"}]},
         {"timeUnixNano": "5", "asDouble": 1}]}}]}]}]}),
     "exemplars[0].traceId: 2 bytes, expected 16", 1),
    ("staleness marker without a value", "otlp_metrics",
     orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "g", "gauge": {"dataPoints": [
         {"timeUnixNano": "5", "flags": 1}, {"timeUnixNano": "5", "asInt": "4"}]}}]}]}]}),
     "gauge.dataPoints[0]: no value (asDouble or asInt); it is flagged 'no recorded value'", 1),
    ("point without a time", "otlp_metrics",
     orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "g", "sum": {"dataPoints": [
         {"asInt": "3"}, {"timeUnixNano": 9, "asInt": "4"}]}}]}]}]}),
     "sum.dataPoints[0].timeUnixNano: missing", 1),
    ("log severity of the wrong type", "otlp_logs",
     orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
         {"severityNumber": [1], "body": {"stringValue": "x"}}, {"body": {"stringValue": "kept"}}]}]}]}),
     "logRecords[0].severityNumber: [1] is not a number or a known name", 1),
    ("events: a line of bad JSON", "events", b'{"signal":"log","body":"a"}\n{"signal": \n{"signal":"log"}',
     "line 2: invalid JSON", 2),
    ("events: unknown signal", "events", b'{"signal":"trace"}\n{"signal":"log","body":"b"}',
     "line 1: signal: 'trace' is not one of span, log, metric", 1),
    ("events: a line that is not an object", "events", b'[1]\n{"signal":"log","body":"b"}',
     "line 1: is a list, expected a JSON object", 1),
    ("events: invalid UTF-8 line", "events", b'{"signal":"log","body":"\xff"}\n{"signal":"log","body":"b"}',
     "line 1: invalid JSON", 1),
    # Protobuf keeps a field whose wire type does not fit its declaration as an unknown field,
    # so this metric arrives without name or data: a record problem, not an unreadable message.
    ("wrong wire type for a known field (protobuf)", "otlp_metrics", b"\x0a\x06\x12\x04\x12\x02\x08\x05",
     "resourceMetrics[0].scopeMetrics[0].metrics[0]: metric '' has no data", 0),
    ("values nested too deep (protobuf)", "otlp_spans", pb_span(attributes=kvs_pb({"a": deep_list(40)})),
     "spans[1].attributes['a']: values nested deeper than", 1),
]


@pytest.mark.parametrize("what,kind,value,words,kept", RECORD_CASES, ids=[c[0] for c in RECORD_CASES])
def test_bad_record_is_an_error_and_the_rest_of_its_message_is_kept(what, kind, value, words, kept):
    r = decode_batch(kind, [value], [T0])
    assert len(r.errors) == 1, r.errors
    assert r.errors[0].index == 0 and words in r.errors[0].reason, r.errors[0].reason
    assert count(kind, r) == kept


def test_at_least_twenty_kinds_of_malformed_input_are_covered():
    assert len(MESSAGE_CASES) + len(RECORD_CASES) >= 40


def test_huge_attribute_value_is_truncated_not_dropped():
    big = "é" * ATTR_LIMIT  # 2 bytes each: twice the limit
    req = ExportTraceServiceRequest()
    s = req.resource_spans.add().scope_spans.add().spans.add(
        trace_id=TRACE, span_id=SPAN, start_time_unix_nano=T0, end_time_unix_nano=T0)
    s.attributes.extend(kvs_pb({"big": big, "small": "s"}))
    r = decode_batch("otlp_spans", [req.SerializeToString(), spans_doc(json_span(attributes=[
        {"key": "big", "value": {"stringValue": big}}]))], [1, 2])
    assert r.errors == [] and len(r.spans) == 2
    for sp in r.spans:
        value = sp.attributes["big"]
        assert value.endswith(f"…[truncated {ATTR_LIMIT} bytes]")
        assert value.startswith("é" * 100) and len(value.split("…")[0].encode()) == ATTR_LIMIT
    assert r.spans[0].attributes["small"] == "s"


def test_huge_span_name_is_truncated_not_dropped():
    r = decode_batch("otlp_spans", [spans_doc(json_span(name="n" * (ATTR_LIMIT + 5)))], [1])
    assert r.errors == [] and r.spans[0].name == "n" * ATTR_LIMIT + "…[truncated 5 bytes]"


def test_huge_log_body_is_truncated_not_dropped():
    req = ExportLogsServiceRequest()
    rec = req.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=T0)
    rec.body.string_value = "x" * (BODY_LIMIT + 10)
    raw = b"y" * (BODY_LIMIT * 2)
    r1 = decode_batch("otlp_logs", [req.SerializeToString()], [1])
    r2 = decode_batch("raw_logs", [raw], [1])
    assert r1.errors == r2.errors == []
    assert r1.logs[0].body == "x" * BODY_LIMIT + "…[truncated 10 bytes]"
    assert r2.logs[0].body == "y" * BODY_LIMIT + f"…[truncated {BODY_LIMIT} bytes]"


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_log_with_malformed_trace_id_is_kept_with_the_bad_value(encoding):
    if encoding == "protobuf":
        req = ExportLogsServiceRequest()
        rec = req.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=T0, trace_id=b"\x01\x02\x03",
                                                                       span_id=b"\x09" * 8)
        rec.body.string_value = "precious"
        value, bad = req.SerializeToString(), "010203"
    else:
        bad = "W47/95gDgQPSabYzgT/GDA=="
        value = orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": str(T0), "traceId": bad, "spanId": "09" * 8, "body": {"stringValue": "precious"}}]}]}]})
    r = decode_batch("otlp_logs", [value], [1])
    assert r.errors == []
    [log] = r.logs
    assert (log.body, log.trace_id, log.span_id) == ("precious", "", "09" * 8)
    assert log.attributes == {"telecorr.invalid_trace_id": bad}


def test_nan_summary_quantiles_are_left_out_and_non_finite_min_max_become_absent():
    doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "s", "summary": {"dataPoints": [{"timeUnixNano": "5", "count": 0, "sum": 0,
                                                 "quantileValues": [{"quantile": 0.5, "value": "NaN"},
                                                                    {"quantile": 1, "value": 3}]}]}},
        {"name": "h", "histogram": {"dataPoints": [{"timeUnixNano": "5", "count": 0, "sum": 0,
                                                   "min": "Infinity", "max": "-Infinity"}]}}]}]}]}
    r = decode_batch("otlp_metrics", [orjson.dumps(doc)], [1])
    assert r.errors == []
    s, h = r.metrics
    assert s.quantiles == [(1.0, 3.0)]
    assert h.min is None and h.max is None and not math.isnan(h.value)


def test_raw_line_with_invalid_utf8_is_kept_and_flagged():
    r = decode_batch("raw_logs", [b"first\nbad \xc3\x28 byte\nthird"], [T0])
    assert r.errors == []
    assert [(x.body, x.attributes) for x in r.logs] == [
        ("first", {}), ("bad \ufffd( byte", {"telecorr.invalid_utf8": "true"}), ("third", {})]
    # The flag is part of what was received, so it is part of the id: a valid line with the
    # replacement character itself is a different record.
    same_text = decode_batch("raw_logs", ["bad \ufffd( byte".encode()], [T0]).logs[0]
    assert same_text.attributes == {} and same_text.id != r.logs[1].id


def test_caller_mistakes_raise():
    with pytest.raises(ValueError, match="unknown decoder kind"):
        decode_batch("otlp_profiles", [b""], [0])
    with pytest.raises(ValueError, match="timestamps"):
        decode_batch("raw_logs", [b"a", b"b"], [0])


def test_several_bad_records_in_one_message_each_get_an_error():
    r = decode_batch("otlp_spans", [spans_doc(json_span(spanId="1"), json_span(), json_span(traceId=""))], [0])
    assert [e.index for e in r.errors] == [0, 0]
    assert "spans[0].spanId" in r.errors[0].reason and "spans[2].traceId: missing" in r.errors[1].reason
    assert len(r.spans) == 1
