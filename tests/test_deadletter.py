"""The DLQ message for one bad input: where it came from, why, and bytes the broker will take."""

from __future__ import annotations

from pipeline.shuffle.deadletter import MAX_DLQ_VALUE_BYTES, PREVIEW_BYTES, dlq_message
from pipeline.kafka.io import MAX_REQUEST_BYTES


def test_a_bad_message_keeps_its_bytes_origin_and_reason():
    value, headers, row = dlq_message("otlp_logs", 3, 41, b"\xff{not json", "bad JSON: at 0")
    assert value == b"\xff{not json"
    assert dict(headers) == {"telecorr.reason": b"bad JSON: at 0", "telecorr.source.topic": b"otlp_logs",
                             "telecorr.source.partition": b"3", "telecorr.source.offset": b"41"}
    assert row == ("otlp_logs", 3, 41, "bad JSON: at 0", 10, "\\xff{not json")


def test_an_empty_message_is_dead_lettered_as_empty():
    value, _headers, row = dlq_message("otlp_spans", 0, 0, None, "empty message")
    assert value == b"" and row[4] == 0 and row[5] == ""


def test_a_message_near_the_broker_limit_is_cut_so_the_dlq_send_cannot_be_refused():
    # Sent back with headers added, the original would exceed the producer's request limit;
    # a refused DLQ send stops the worker, and every restart would meet it again.
    big = b"x" * (MAX_REQUEST_BYTES - 10)
    value, headers, row = dlq_message("otlp_logs", 1, 7, big, "field too large")
    assert len(value) == MAX_DLQ_VALUE_BYTES < MAX_REQUEST_BYTES - 60_000
    assert value == big[:MAX_DLQ_VALUE_BYTES]
    assert dict(headers)["telecorr.truncated_from"] == str(len(big)).encode()
    assert row[4] == len(big) and len(row[5]) == PREVIEW_BYTES


def test_a_message_of_many_bad_records_is_dead_lettered_once_with_a_summary():
    from pipeline.ingest.decode import Limits, decode_batch
    from pipeline.shuffle.deadletter import per_message

    bad = b"\n".join([b"{}"] * 50_000 + [b"not json"] + [b'{"signal":"log","body":"ok","time":1700000000000000000}'])
    res = decode_batch("events", [b'{"signal":"log","body":"fine"}', bad], [1, 2], Limits(records_per_message=60_000))
    assert len(res.logs) == 2 and len(res.errors) == 50_001
    [(index, reason, count)] = per_message(res.errors)
    assert index == 1 and count == 50_001
    assert reason.startswith("50001 bad records: 50000x signal: None is not one of span, log, metric; 1x invalid JSON")
    assert "first: line 1: signal" in reason and len(reason) <= 2000


def test_one_bad_record_keeps_its_reason_as_it_is():
    from pipeline.ingest.decode.result import DecodeError
    from pipeline.shuffle.deadletter import per_message

    assert per_message([DecodeError(4, "line 3: span_id: 3 bytes, expected 8")]) == \
        [(4, "line 3: span_id: 3 bytes, expected 8", 1)]
