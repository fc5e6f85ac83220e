"""Deterministic ids: a replay gives the same ids; identical records in one message don't merge."""

from __future__ import annotations

import orjson

from pipeline.ingest.decode import decode_batch
from tests.decode_samples import logs_json, logs_pb, metrics_json, metrics_pb, spans_pb


def ids(r) -> list[str]:
    return [s.id for s in r.spans] + [x.id for x in r.logs] + [p.id for p in r.metrics]


def test_replaying_the_same_batch_gives_the_same_ids():
    for kind, value in (("otlp_spans", spans_pb()), ("otlp_logs", logs_pb()), ("otlp_logs", logs_json()),
                        ("otlp_metrics", metrics_pb()), ("otlp_metrics", metrics_json()),
                        ("raw_logs", b"a\nb"), ("events", b'{"signal":"log","body":"x"}')):
        first = ids(decode_batch(kind, [value], [1]))
        assert first and first == ids(decode_batch(kind, [value], [1]))


def test_identical_logs_in_one_message_keep_distinct_ids_and_replay_to_the_same_ones():
    line = {"timeUnixNano": "5", "body": {"stringValue": "retrying"}}
    msg = orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [line, line, line]}]}]})
    a = decode_batch("otlp_logs", [msg], [1]).logs
    b = decode_batch("otlp_logs", [msg], [2]).logs  # replayed, even with another Kafka timestamp
    assert len({x.id for x in a}) == 3
    assert [x.id for x in a] == [x.id for x in b]
    raw = decode_batch("raw_logs", [b"same\nsame"], [1]).logs
    assert raw[0].id != raw[1].id


def test_the_same_record_published_twice_collapses_to_one_id():
    msg = logs_json()
    r = decode_batch("otlp_logs", [msg, msg], [1, 2])
    assert [x.id for x in r.logs[:2]] == [x.id for x in r.logs[2:]]
    r = decode_batch("otlp_metrics", [metrics_pb(), metrics_json()], [1, 2])
    assert [p.id for p in r.metrics[:5]] == [p.id for p in r.metrics[5:]]


def test_log_ids_change_with_what_was_received():
    def log_id(**over) -> str:
        rec = {"timeUnixNano": "5", "severityNumber": 9, "body": {"stringValue": "x"},
               "attributes": [{"key": "a", "value": {"stringValue": "1"}}]}
        rec.update(over)
        doc = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "s"}}]},
                                 "scopeLogs": [{"logRecords": [rec]}]}]}
        return decode_batch("otlp_logs", [orjson.dumps(doc)], [1]).logs[0].id

    base = log_id()
    assert base == log_id(attributes=[{"key": "a", "value": {"stringValue": "1"}}])
    for change in ({"timeUnixNano": "6"}, {"severityNumber": 10}, {"body": {"stringValue": "y"}},
                   {"attributes": [{"key": "a", "value": {"stringValue": "2"}}]},
                   {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736"}):
        assert log_id(**change) != base, change


def test_metric_ids_depend_on_series_and_time_not_on_value():
    def point_id(value: float, time: str = "5", attrs: dict | None = None) -> str:
        kvs = [{"key": k, "value": {"stringValue": v}} for k, v in (attrs or {}).items()]
        doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "g", "gauge": {"dataPoints": [
            {"timeUnixNano": time, "asDouble": value, "attributes": kvs}]}}]}]}]}
        return decode_batch("otlp_metrics", [orjson.dumps(doc)], [1]).metrics[0].id

    assert point_id(1.0) == point_id(2.0)  # a corrected value replaces the stored point
    assert point_id(1.0) != point_id(1.0, time="6")
    assert point_id(1.0, attrs={"a": "1", "b": "2"}) == point_id(1.0, attrs={"b": "2", "a": "1"})
    assert point_id(1.0, attrs={"a": "1"}) != point_id(1.0, attrs={"a": "2"})


def test_span_id_is_trace_plus_span_id():
    s = decode_batch("otlp_spans", [spans_pb()], [1]).spans[0]
    assert s.id == s.trace_id + s.span_id and len(s.id) == 48


def test_raw_lines_repeated_in_other_messages_stay_apart_and_a_replay_keeps_its_ids():
    msg = b"connection refused\nconnection refused"
    first = decode_batch("raw_logs", [msg, msg], [1_000, 2_000]).logs  # the same text, two messages
    assert len({x.id for x in first}) == 4
    replay = decode_batch("raw_logs", [msg], [2_000]).logs  # the second message again, after a crash
    assert [x.id for x in replay] == [x.id for x in first[2:]]
    assert [x.time_ns for x in replay] == [2_000, 2_000]


def test_content_ids_are_the_ones_earlier_versions_stored():
    # Ids already in ClickHouse must keep matching replays, so the hash input may never change.
    from pipeline.model import content_id
    assert content_id() == "cae66941d9efbd404e4d88758ea67670"
    assert content_id(1) == "3e72a0b436aa4b34e5e93468af324544"
    assert (content_id(1_700_000_000_000_000_001, "checkout", None, ("k", "v"), "é\udc80")
            == "fdfd9e5896b8c92d8aa46686cdffaa5b")
