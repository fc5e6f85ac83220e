"""By-trace v2 (columns) on the consumer side: read back exactly, checked column by column."""

from __future__ import annotations

import orjson
import pytest

from pipeline.model import LogRecord, Span
from pipeline.shuffle.wirecheck import WireError, read_by_trace
from tests.wire_v2 import columns, v1_message, v2_message

T = 1_700_000_000 * 10**9
SPANS = [Span("ab" * 16, f"{i:016x}", "" if i == 0 else f"{0:016x}", f"op{i}", T + i, T + 10 * i + 5, kind=i % 6,
              status_code=i % 3, host=f"h{i % 2}", attributes={"k": str(i)} if i % 2 else {},
              events=[{"time_ns": T, "name": "exception", "attributes": {"a": "b"}}] if i == 3 else [],
              kafka_ns=T) for i in range(5)]
LOGS = [LogRecord(T + i, f"body {i}", severity_number=17, trace_id="ab" * 16, span_id=f"{i:016x}", id=f"l{i}",
                  rules=["r1", "r2"] if i else [], parse_failed=bool(i % 2), resource={"k8s.pod.name": "p"})
        for i in range(4)]
PROGRESS = {"otlp_spans/0": (T, False), "otlp_logs/1": (None, True)}


def test_v2_reads_back_the_records_v1_carries():
    got = read_by_trace(v2_message(SPANS, LOGS, PROGRESS))
    assert got == (SPANS, LOGS, PROGRESS)
    assert got == read_by_trace(v1_message(SPANS, LOGS, PROGRESS))


@pytest.mark.parametrize("doc", [{"v": 2}, {"v": 2, "spans": {}, "logs": {}}, {"v": 2, "spans": None},
                                 {"v": 2, "spans": columns([], Span), "logs": columns([], LogRecord)}])
def test_absent_or_empty_columns_mean_no_records(doc):
    assert read_by_trace(orjson.dumps(doc)) == ([], [], {})


def test_only_spans_or_only_logs():
    assert read_by_trace(orjson.dumps({"v": 2, "spans": columns(SPANS, Span)})) == (SPANS, [], {})
    assert read_by_trace(orjson.dumps({"v": 2, "logs": columns(LOGS, LogRecord)})) == ([], LOGS, {})


def _spoil(signal: str, field: str, value) -> bytes:
    doc = orjson.loads(v2_message(SPANS, LOGS))
    if value is KeyError:
        del doc[signal][field]
    elif callable(value):
        doc[signal][field] = value(doc[signal][field])
    else:
        doc[signal][field] = value
    return orjson.dumps(doc)


BAD = {
    "wrong type in a str column": _spoil("spans", "name", lambda c: c[:-1] + [5]),
    "float in an int column": _spoil("spans", "end_ns", lambda c: c[:-1] + [1.5]),
    "bool in an int column": _spoil("logs", "severity_number", lambda c: [True] + c[1:]),
    "int in a bool column": _spoil("logs", "parse_failed", lambda c: [1] + c[1:]),
    "non-string attribute value": _spoil("spans", "attributes", lambda c: [{"k": 1}] + c[1:]),
    "event without a name": _spoil("spans", "events", lambda c: [[{"time_ns": 1, "attributes": {}}]] + c[1:]),
    "rule that is not a string": _spoil("logs", "rules", lambda c: [[1]] + c[1:]),
    "ragged lengths": _spoil("logs", "body", lambda c: c[:-1]),
    "column not an array": _spoil("spans", "host", "h0"),
    "missing field": _spoil("spans", "kafka_ns", KeyError),
    "unknown field": _spoil("logs", "surprise", [1, 2, 3, 4]),
    "columns not an object": orjson.dumps({"v": 2, "spans": [orjson.loads(orjson.dumps(SPANS[0]))]}),
    "unknown version": orjson.dumps({"v": 3, "spans": {}}),
    "version not a number": orjson.dumps({"v": "2", "spans": {}}),
    "unknown top-level key": orjson.dumps({"v": 2, "spanz": {}}),
    "bad progress": orjson.dumps({"v": 2, "progress": {"a": ["x", True]}}),
}


def test_spoil_with_keyerror_removes_the_field():
    assert "kafka_ns" not in orjson.loads(BAD["missing field"])["spans"]


@pytest.mark.parametrize("reason", list(BAD))
def test_a_bad_v2_message_is_a_wire_error_naming_where(reason):
    with pytest.raises(WireError) as err:
        read_by_trace(BAD[reason])
    assert str(err.value)  # the reason the dead-letter record carries
    if reason == "float in an int column":
        assert str(err.value) == "spans.end_ns[4]: float value where int belongs"
    if reason == "ragged lengths":
        assert "logs.body" in str(err.value)
