"""Size limits: values, records, records per message and consumed batches stay bounded."""

from __future__ import annotations

import orjson

from pipeline.ingest.decode import Limits, decode_batch
from pipeline.ingest.decode.limits import TRUNCATED_ATTR, record_size, split_batch
from pipeline.shuffle.route import MAX_MESSAGE_BYTES, by_trace_messages

T = 1_700_000_000 * 10**9


def _span_doc(sid: str, attrs: list[tuple[str, str]], resource: list[tuple[str, str]] = ()) -> bytes:
    kv = lambda pairs: [{"key": k, "value": {"stringValue": v}} for k, v in pairs]  # noqa: E731
    span = {"traceId": "ab" * 16, "spanId": sid, "name": "op", "startTimeUnixNano": T, "endTimeUnixNano": T + 5,
            "attributes": kv(attrs)}
    return orjson.dumps({"resourceSpans": [{"resource": {"attributes": kv(resource)},
                                            "scopeSpans": [{"spans": [span]}]}]})


def test_a_7_7_mb_span_is_cut_to_the_record_limit_and_forwarded():
    huge = _span_doc("01" * 8, [(f"k{i}", "x" * 32_000) for i in range(240)])
    assert len(huge) > 7_000_000
    res = decode_batch("otlp_spans", [huge, _span_doc("02" * 8, [("a", "b")])], [T, T])
    assert not res.errors and [s.span_id for s in res.spans] == ["01" * 8, "02" * 8]
    big = res.spans[0]
    assert record_size(big) <= Limits().record_bytes
    assert len(big.attributes) == 241 and big.attributes[TRUNCATED_ATTR].startswith("k")
    assert TRUNCATED_ATTR not in res.spans[1].attributes and res.spans[1].attributes == {"a": "b"}
    values = [v for _, v in by_trace_messages(res.spans, [], 4)]
    assert values and max(map(len, values)) <= MAX_MESSAGE_BYTES


def test_a_record_that_cannot_be_squeezed_is_an_error_and_its_neighbour_kept():
    many = _span_doc("01" * 8, [(f"key-{i:06d}", "v") for i in range(40_000)])
    res = decode_batch("otlp_spans", [many + b"", _span_doc("02" * 8, [])], [T, T])
    assert [s.span_id for s in res.spans] == ["02" * 8]
    assert len(res.errors) == 1 and res.errors[0].index == 0 and "max_record_bytes" in res.errors[0].reason


def test_a_huge_shared_resource_is_cut_per_record_without_touching_the_original():
    res = decode_batch("otlp_spans", [_span_doc("01" * 8, [], [("service.name", "cart")] +
                                                [(f"r{i}", "y" * 30_000) for i in range(20)])], [T])
    [s] = res.spans
    assert record_size(s) <= Limits().record_bytes and s.service == "cart"
    assert s.attributes[TRUNCATED_ATTR].startswith("resource.r")


def test_attribute_and_body_caps_are_settings_and_marked():
    limits = Limits(attr_bytes=1024, body_bytes=2048)
    line = b'{"signal":"log","time":%d,"body":"%s","attributes":{"big":"%s","small":"s"}}' % (T, b"b" * 5000, b"a" * 5000)
    res = decode_batch("events", [line], [T], limits)
    [r] = res.logs
    assert len(r.body.encode()) < 2048 + 64 and len(r.attributes["big"].encode()) < 1024 + 64
    assert r.attributes[TRUNCATED_ATTR] == "body,big" and r.attributes["small"] == "s"


def test_records_per_message_are_capped_before_they_are_built():
    res = decode_batch("raw_logs", [b"a\n" * 200_000, b"fine"], [T, T])
    assert len(res.logs) == 10_001
    assert [e.index for e in res.errors] == [0] and "max_records_per_message" in res.errors[0].reason
    res = decode_batch("events", [b"{}\n" * 30_000], [T])
    assert len(res.errors) == 10_001  # 10,000 lines read (each bad), then the cut


def test_split_batch_bounds_bytes_and_guessed_records():
    limits = Limits(batch_bytes=1000, batch_records=100)
    values = [b"x" * 400] * 5 + [b"a\n" * 60] * 3 + [b"y" * 5000]
    runs = split_batch(values, limits)
    assert runs[0] == (0, 2) and runs[-1] == (8, 9)
    assert [i for lo, hi in runs for i in range(lo, hi)] == list(range(9))
    assert split_batch([], limits) == []


def test_a_record_whose_json_escapes_past_one_message_is_cut_until_it_fits():
    # 450 K control characters: under max_record_bytes as characters, ~2.7 MB as JSON.
    doc = _span_doc("01" * 8, [(f"c{i}", "\u0001" * 30_000) for i in range(15)])
    res = decode_batch("otlp_spans", [doc], [T])
    [s] = res.spans
    assert not res.errors and record_size(s) <= Limits().record_bytes
    assert len(orjson.dumps(s)) <= MAX_MESSAGE_BYTES - 16 * 1024
    assert s.attributes[TRUNCATED_ATTR].startswith("c")
    [(_, value)] = by_trace_messages(res.spans, [], 1)
    assert len(value) <= MAX_MESSAGE_BYTES


def test_a_metric_point_with_a_million_buckets_is_a_record_error():
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    req = ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    h = metrics.add(name="huge").histogram
    h.data_points.add(time_unix_nano=T, count=1, bucket_counts=[0] * 1_000_000, explicit_bounds=[1.0] * 999_999)
    metrics.add(name="fine").gauge.data_points.add(time_unix_nano=T, as_double=1.0)
    res = decode_batch("otlp_metrics", [req.SerializeToString()], [T])
    assert [p.name for p in res.metrics] == ["fine"]
    assert len(res.errors) == 1 and "max_record_bytes" in res.errors[0].reason
