"""Flat JSON lines (telemetry.events) and raw text lines; the event JSON Schema agrees with
the decoder on what is valid."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from pipeline.ingest.decode import decode_batch
from pipeline.ingest.decode.times import rfc3339_ns

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "event.schema.json"
TID, SID, PID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "00f067aa0ba902b6"

SPAN = {"signal": "span", "trace_id": TID.upper(), "span_id": SID, "parent_span_id": PID, "name": "GET /",
        "kind": "server", "start": "2024-05-01T12:00:00.000000001Z", "end": 1714564800500000000,
        "status": "error", "status_message": "boom", "service": "api", "instance": "api-1", "host": "n1",
        "attributes": {"http.status_code": 500, "retry": True, "path": "/"},
        "resource": {"service.name": "ignored-because-service-is-given", "region": "eu"},
        "events": [{"time": "2024-05-01T14:00:00.25+02:00", "name": "exception",
                    "attributes": {"exception.type": "ValueError"}}]}
LOG = {"signal": "log", "time": "1714564800000000123", "body": "disk full", "severity": "warning",
       "trace_id": TID, "span_id": SID, "resource": {"service.name": "db", "k8s.pod.name": "db-0"},
       "attributes": {"disk": "/dev/sda"}}
GAUGE = {"signal": "metric", "name": "cpu", "type": "gauge", "value": 0.5, "time": 1714564800000000000,
         "unit": "1", "service": "api", "attributes": {"core": 1}}
HISTOGRAM = {"signal": "metric", "name": "lat", "type": "histogram", "time": "2024-05-01T12:00:00Z", "count": 3,
             "sum": 7.5, "min": 1, "max": 4, "bucket_bounds": [2, 5], "bucket_counts": [1, 1, 1],
             "temporality": "delta",
             "exemplars": [{"time": 1714564799000000000, "value": 4, "trace_id": TID, "span_id": SID}]}
EXP = {"signal": "metric", "name": "lat.exp", "type": "exp_histogram", "time": 5, "count": 4, "sum": 10,
       "scale": 1, "zero_count": 1, "positive_offset": -1, "positive_counts": [2, 1], "negative_offset": 0,
       "negative_counts": []}
SUMMARY = {"signal": "metric", "name": "rpc", "type": "summary", "time": 5, "count": 2, "sum": 3,
           "quantiles": [[0.5, 1.0], [0.99, "NaN"]]}
SUM = {"signal": "metric", "name": "req", "type": "sum", "value": "12", "time": 5, "start_time": 1,
       "is_monotonic": True, "temporality": "AGGREGATION_TEMPORALITY_CUMULATIVE"}
VALID = [SPAN, LOG, GAUGE, HISTOGRAM, EXP, SUMMARY, SUM,
         {"signal": "log", "body": "only a body"},
         {"signal": "log", "body": {"structured": [1, 2]}, "severity": 17},
         {"signal": "span", "trace_id": TID, "span_id": SID, "start": 1, "end": 1, "kind": 3, "status": 0}]


def lines(*events: dict) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in events)


def test_span_event_round_trip():
    r = decode_batch("events", [lines(SPAN)], [7])
    assert r.errors == []
    [s] = r.spans
    assert (s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind) == (TID, SID, PID, "GET /", 2)
    assert (s.start_ns, s.end_ns) == (1714564800000000001, 1714564800500000000)
    assert (s.status_code, s.status_message) == (2, "boom")
    assert (s.service, s.instance, s.host) == ("api", "api-1", "n1")
    assert s.attributes == {"http.status_code": "500", "retry": "true", "path": "/"}
    assert s.resource["region"] == "eu"
    assert s.events == [{"time_ns": 1714564800250000000, "name": "exception",
                         "attributes": {"exception.type": "ValueError"}}]


def test_log_event_round_trip():
    r = decode_batch("events", [lines(LOG, {"signal": "log", "body": "only a body"})], [99])
    assert r.errors == []
    a, b = r.logs
    assert (a.time_ns, a.observed_ns, a.body, a.severity_text, a.severity_number) == (
        1714564800000000123, 99, "disk full", "warning", 13)
    assert (a.trace_id, a.span_id, a.service, a.host) == (TID, SID, "db", "db-0")
    assert a.attributes == {"disk": "/dev/sda"}
    assert (b.time_ns, b.body, b.severity_number) == (99, "only a body", 0)


def test_metric_events_of_every_type():
    r = decode_batch("events", [lines(GAUGE, HISTOGRAM, EXP, SUMMARY, SUM)], [0])
    assert r.errors == []
    g, h, x, s, c = r.metrics
    assert (g.type, g.value, g.service, g.attributes) == ("gauge", 0.5, "api", {"core": "1"})
    assert (h.type, h.count, h.sum, h.value, h.min, h.max, h.temporality) == ("histogram", 3, 7.5, 7.5, 1.0, 4.0, 1)
    assert (h.bucket_bounds, h.bucket_counts, h.time_ns) == ([2.0, 5.0], [1, 1, 1], 1714564800000000000)
    assert [(e.value, e.trace_id, e.span_id) for e in h.exemplars] == [(4.0, TID, SID)]
    assert (x.exp_scale, x.exp_zero_count, x.exp_positive_offset, x.exp_positive_counts) == (1, 1, -1, [2, 1])
    assert s.quantiles == [(0.5, 1.0)]  # the NaN quantile is left out
    assert (c.value, c.is_monotonic, c.temporality, c.start_time_ns) == (12.0, True, 2, 1)
    assert len({p.id for p in r.metrics}) == 5


@pytest.mark.parametrize("event,words", [
    ({"signal": "span", "trace_id": TID, "span_id": SID, "start": 5, "end": 4}, "line 1: end: 4 is before"),
    ({"signal": "span", "trace_id": TID, "span_id": "xyz", "start": 5, "end": 6}, "line 1: span_id: 'xyz' is not hex"),
    ({"signal": "span", "span_id": SID, "start": 5, "end": 6}, "line 1: trace_id: missing"),
    ({"signal": "span", "trace_id": TID, "span_id": SID, "start": "yesterday", "end": 6},
     "line 1: start: 'yesterday' is not a time"),
    ({"signal": "span", "trace_id": TID, "span_id": SID, "start": "2024-05-01T12:00:00", "end": 6},
     "start: '2024-05-01T12:00:00' is not a time"),  # no offset: ambiguous
    ({"signal": "span", "trace_id": TID, "span_id": SID, "start": 5, "end": 6, "kind": "sideways"}, "line 1: kind:"),
    ({"signal": "metric", "name": "m", "type": "gauge", "time": 5}, "line 1: value: missing"),
    ({"signal": "metric", "name": "m", "type": "counter", "value": 1, "time": 5}, "line 1: type: 'counter' is not"),
    ({"signal": "metric", "name": "m", "type": "gauge", "value": 1}, "line 1: time: missing"),
    ({"signal": "metric", "name": "m", "type": "gauge", "value": "Infinity", "time": 5}, "not a finite number"),
    ({"signal": "metric", "type": "gauge", "value": 1, "time": 5}, "line 1: name: missing"),
    ({"signal": "log", "body": "x", "attributes": ["a"]}, "line 1: attributes: is a list, expected an object"),
    ({"signal": "log", "body": "x", "severity": 1.5}, "line 1: severity: is a number"),
    ({"signal": "log", "body": "x", "service": 3}, "line 1: service: is a number, expected a string"),
])
def test_bad_events_are_errors_and_the_next_line_survives(event, words):
    r = decode_batch("events", [lines(event, {"signal": "log", "body": "next"})], [0])
    assert len(r.errors) == 1 and words in r.errors[0].reason, r.errors
    assert [x.body for x in r.logs] == ["next"]


def test_decoder_valid_examples_validate_against_the_schema():
    import jsonschema
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for ev in VALID:
        r = decode_batch("events", [orjson.dumps(ev)], [1])
        assert r.errors == [], (ev, r.errors)
        assert list(validator.iter_errors(ev)) == [], ev


def test_schema_rejects_what_the_decoder_rejects_for_plain_shape_errors():
    import jsonschema
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    bad = [{"signal": "trace"}, {"signal": "span", "trace_id": TID, "span_id": "xyz", "start": 1, "end": 2},
           {"signal": "metric", "name": "m", "type": "counter", "value": 1, "time": 1},
           {"signal": "metric", "name": "m", "type": "gauge", "time": 1},
           {"signal": "span", "trace_id": TID, "span_id": SID, "start": "2024-05-01T12:00:00", "end": 2}]
    for ev in bad:
        assert decode_batch("events", [orjson.dumps(ev)], [1]).errors, ev
        assert not validator.is_valid(ev), ev


def test_rfc3339_times_keep_nanoseconds_and_offsets():
    assert rfc3339_ns("1970-01-01T00:00:01.000000001Z") == 1_000_000_001
    assert rfc3339_ns("1970-01-01T01:00:00+01:00") == 0
    assert rfc3339_ns("2024-02-30T00:00:00Z") is None
    assert rfc3339_ns("2024-01-01T00:00:00") is None


def test_raw_lines_become_logs_with_the_kafka_time():
    r = decode_batch("raw_logs", [b"<34>Oct 11 22:14:15 host su: failed\r\n\n   \nlevel=info msg=ok\n"], [42])
    assert r.errors == []
    assert [(x.body, x.time_ns, x.observed_ns, x.trace_id) for x in r.logs] == [
        ("<34>Oct 11 22:14:15 host su: failed", 42, 42, ""), ("level=info msg=ok", 42, 42, "")]
