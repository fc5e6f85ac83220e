"""Every event time is checked: no wrap-around, nothing before 1970 or past now + 1 day."""

from __future__ import annotations

import time

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pipeline.ingest.decode import decode_batch
from pipeline.ingest.decode.timebounds import OUT_OF_RANGE_ATTR
from pipeline.ingest.logs import parse_logs

NOW = time.time_ns()
TWO_DAYS = 2 * 86_400 * 10**9


def _json_span(start: int | str, end: int | str, sid: str) -> dict:
    return {"traceId": "ab" * 16, "spanId": sid, "name": "op", "startTimeUnixNano": start, "endTimeUnixNano": end}


@pytest.mark.parametrize("start, end", [(2**63 + 1, 2**63 + 2), (str(2**64 - 1), str(2**64 - 1)),
                                        (NOW, NOW + TWO_DAYS), (NOW + TWO_DAYS, NOW + TWO_DAYS)])
def test_an_otlp_json_span_with_an_impossible_time_is_refused_and_its_neighbour_kept(start, end):
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [_json_span(start, end, "01" * 8),
                                                         _json_span(NOW, NOW + 5, "02" * 8)]}]}]}
    res = decode_batch("otlp_spans", [orjson.dumps(doc)], [NOW])
    assert [s.span_id for s in res.spans] == ["02" * 8]
    assert len(res.errors) == 1 and "outside the plausible range" in res.errors[0].reason
    assert "spans[0]" in res.errors[0].reason


def test_a_protobuf_time_past_2_63_is_never_stored_negative():
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="x", start_time_unix_nano=2**63 + 1,
                 end_time_unix_nano=2**63 + 5)
    ss.spans.add(trace_id=b"\x01" * 16, span_id=b"\x03" * 8, name="y", start_time_unix_nano=NOW,
                 end_time_unix_nano=NOW + 1)
    res = decode_batch("otlp_spans", [req.SerializeToString()], [NOW])
    assert [s.span_id for s in res.spans] == ["03" * 8] and all(s.start_ns > 0 for s in res.spans)
    assert "startTimeUnixNano" in res.errors[0].reason


@pytest.mark.parametrize("line", [b'{"signal":"log","time":"9999-12-31T23:59:59Z","body":"x"}',
                                  b'{"signal":"metric","name":"m","type":"gauge","value":1,"time":"0001-01-01T00:00:00Z"}',
                                  b'{"signal":"log","observed_time":18446744073709551615,"body":"x"}'])
def test_flat_events_with_impossible_times_are_errors(line):
    good = b'{"signal":"log","time":%d,"body":"fine"}' % NOW
    res = decode_batch("events", [line + b"\n" + good], [NOW])
    assert [r.body for r in res.logs] == ["fine"]
    assert len(res.errors) == 1 and res.errors[0].reason.startswith("line 1: ")


def test_a_raw_line_stamped_out_of_range_keeps_its_kafka_time_and_says_so():
    res = decode_batch("raw_logs", [b"0001-01-01T00:00:00Z boom\n9999-12-31T23:59:59Z bam\n"
                                    b"2024-01-01T00:00:00Z ok"], [NOW])
    parse_logs(res.logs, "auto", "UTC")
    assert [r.time_ns for r in res.logs] == [NOW, NOW, 1_704_067_200 * 10**9]
    assert OUT_OF_RANGE_ATTR in res.logs[0].attributes and OUT_OF_RANGE_ATTR in res.logs[1].attributes
    assert OUT_OF_RANGE_ATTR not in res.logs[2].attributes and not res.errors
