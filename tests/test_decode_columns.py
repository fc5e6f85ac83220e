"""The columnar span path (pipeline/column_batch.py, otlp_traces.spans_into_columns) against the
record path it replaced: the same spans, field for field, and the same error reasons.

The reference below is the per-record decoder as it was (walk the request, build each Span
with make_span), kept here as the oracle."""

from __future__ import annotations

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from pipeline.column_batch import ColumnBatch
from pipeline.ingest.decode import decode_batch
from pipeline.ingest.decode.otlp_pb import record_path, walk
from pipeline.ingest.decode.otlp_traces import _LEVELS, _NAMES, _json_span, _proto_span
from pipeline.ingest.decode.otlp_walk import walk as json_walk
from pipeline.ingest.decode.result import RecordError
from pipeline.model import LogRecord, Span
from pipeline.shuffle.route import by_trace_messages, read_by_trace
from pipeline.sim.simulator import SimConfig, Simulation
from pipeline.store.columnar import span_columns

T = 1_760_000_000_000_000_000


def reference(value: bytes) -> tuple[list[Span], list[str]]:
    """The record path: one Span per record through make_span."""
    req = ExportTraceServiceRequest.FromString(value)
    out, errors = [], []
    for s, res, i, j, k in walk(req.resource_spans, "scope_spans", "spans", _NAMES, errors):
        try:
            out.append(_proto_span(s, res))
        except RecordError as exc:
            errors.append(exc.at(record_path(_NAMES, i, j, k)))
    return out, errors


def json_reference(value: bytes) -> tuple[list[Span], list[str]]:
    """The record path for OTLP/JSON: one Span per record through make_span."""
    out, errors = [], []
    for sp, res, path in json_walk(orjson.loads(value), _LEVELS, errors):
        try:
            out.append(_json_span(sp, res))
        except RecordError as exc:
            errors.append(exc.at(path))
    return out, errors


def _kv(key: str, **value) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def edge_request() -> bytes:
    """Good spans beside every kind of span the quick checks send down the record path."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", string_value="cart"), _kv("k8s.pod.name", string_value="p-1")])
    spans = rs.scope_spans.add().spans
    good = dict(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="ok", start_time_unix_nano=T, end_time_unix_nano=T + 5)
    spans.add(**good).attributes.extend([_kv("a", string_value="x"), _kv("n", int_value=3), _kv("d", double_value=0.5),
                                         _kv("b", bool_value=True), _kv("z", int_value=0),
                                         _kv("arr", array_value={"values": [AnyValue(int_value=1)]})])
    spans.add(**{**good, "parent_span_id": b"\x00" * 8})  # all-zero parent: none
    spans.add(**{**good, "span_id": b"\x03" * 4})  # short span id
    spans.add(**{**good, "trace_id": b"\x00" * 16})  # zero trace id
    spans.add(**{**good, "end_time_unix_nano": T - 1})  # ends before it starts
    spans.add(**{**good, "start_time_unix_nano": 0})
    spans.add(**{**good, "start_time_unix_nano": 1 << 63, "end_time_unix_nano": 1 << 63})  # far future
    spans.add(**{**good, "kind": 9})
    spans.add(**{**good, "name": "n" * 20_000})  # cut to the attribute limit
    sp = spans.add(**good)
    sp.status.code = 2
    sp.status.message = "boom"
    sp = spans.add(**good)
    sp.status.code = 7
    sp = spans.add(**good)
    ev = sp.events.add(time_unix_nano=T + 1, name="exception")
    ev.attributes.extend([_kv("exception.type", string_value="E")])
    sp = spans.add(**good)
    sp.events.add(time_unix_nano=1 << 63, name="late")
    deep = AnyValue()
    inner = deep
    for _ in range(40):
        inner = inner.array_value.values.add()
    spans.add(**good).attributes.extend([KeyValue(key="deep", value=deep)])
    spans.add(**{**good, "span_id": b"\x04" * 8}).attributes.extend([_kv("big", string_value="v" * 40_000)])
    bad_res = req.resource_spans.add()
    bad_res.resource.attributes.extend([KeyValue(key="r", value=deep)])
    bad_res.scope_spans.add().spans.add(**good)
    tail = req.resource_spans.add()
    tail.scope_spans.add().spans.add(**{**good, "span_id": b"\x05" * 8})
    return req.SerializeToString()


def _limits_free(value: bytes) -> tuple[list[Span], list[str]]:
    """The columnar decoder through decode_batch, kafka_ns and limits included."""
    res = decode_batch("otlp_spans", [value], [T])
    return res.spans.records(), [e.reason for e in res.errors]


def test_edge_cases_decode_to_the_same_spans_and_reasons_as_the_record_path():
    value = edge_request()
    want, reasons = reference(value)
    got, got_reasons = _limits_free(value)
    for s in want:
        s.kafka_ns = T
    # The 40,000-character attribute is cut by the size limits on both paths; the
    # reference does not apply them, so compare that span apart.
    big = [s for s in got if s.span_id == "04" * 8]
    assert len(big) == 1 and big[0].attributes["big"].endswith("bytes]")
    assert [s for s in got if s.span_id != "04" * 8] == [s for s in want if s.span_id != "04" * 8]
    assert got_reasons == reasons and len(reasons) >= 8


@pytest.mark.parametrize("seed", [1, 2])
def test_simulator_protobuf_spans_are_the_same_records_on_both_paths(seed):
    sim = Simulation(SimConfig(preset="shop", duration_ns=20 * 10**9, rps=20, seed=seed, encoding="otlp-proto"))
    values = [payload for signal, payload in sim.messages() if signal == "traces"]
    res = decode_batch("otlp_spans", values, [T + i for i in range(len(values))])
    want: list[Span] = []
    for i, v in enumerate(values):
        spans, errors = reference(v)
        assert not errors
        for s in spans:
            s.kafka_ns = T + i
        want += spans
    assert len(want) > 1000 and not res.errors
    assert res.spans == want
    # The store's insert columns from the columns are those from the records.
    assert span_columns(res.spans) == span_columns(want)


def test_column_batch_reads_as_records():
    spans = [Span("ab" * 16, f"{i:016x}", "", f"op{i}", T, T + i, attributes={"i": str(i)}) for i in range(5)]
    batch = ColumnBatch.of(Span, spans)
    assert len(batch) == 5 and batch == spans and batch[2] == spans[2] and list(batch[1:3]) == spans[1:3]
    assert batch.take([4, 0]).records() == [spans[4], spans[0]]
    batch += spans[:1]
    del batch[0]
    assert batch.records() == spans[1:] + spans[:1]


def test_by_trace_v2_is_columnar_and_reads_back_as_the_same_records():
    spans = [Span(f"{t:032x}", f"{i + 1:016x}", "", "op", T, T + 1, events=[{"time_ns": T, "name": "e",
                                                                              "attributes": {"k": "v"}}])
             for t in range(1, 9) for i in range(3)]
    logs = [LogRecord(T, f"line {i}", trace_id=f"{i % 8 + 1:032x}", id=str(i), rules=["r"]) for i in range(20)]
    logs.append(LogRecord(T, "no trace", id="x"))  # has no trace id: not re-keyed
    msgs = by_trace_messages(ColumnBatch.of(Span, spans), logs, 4, {"otlp_spans/0": (T, False)})
    got_spans, got_logs = [], []
    for _, value in msgs:
        doc = orjson.loads(value)
        assert doc["v"] == 2
        for kind, cls in (("spans", Span), ("logs", LogRecord)):
            if kind in doc:
                assert list(doc[kind]) == [f for f in ColumnBatch(cls).cols]
                assert len({len(c) for c in doc[kind].values()}) == 1
        s, lg, _ = read_by_trace(value)
        got_spans += s
        got_logs += lg
    key = lambda r: r.id  # noqa: E731 - partitions interleave; within one, order is kept
    assert sorted(got_spans, key=key) == sorted(spans, key=key)
    assert sorted(got_logs, key=key) == sorted(logs[:-1], key=key)


def edge_json() -> bytes:
    """OTLP/JSON spans in the usual shape beside every shape the quick checks leave to the record path."""
    good = {"traceId": "AB" * 16, "spanId": "0c" * 8, "name": "ok", "startTimeUnixNano": str(T),
            "endTimeUnixNano": T + 5, "kind": "SPAN_KIND_SERVER", "status": {"code": 2, "message": "m"},
            "attributes": [{"key": "a", "value": {"stringValue": "x"}}, {"key": "n", "value": {"intValue": "7"}}]}
    variants = [good, {**good, "parentSpanId": "00" * 8}, {**good, "parentSpanId": "1d" * 8},
                {**good, "trace_id": "ab" * 16, "traceId": None}, {**good, "spanId": "0c" * 4},
                {**good, "spanId": "zz" * 8}, {**good, "traceId": "q83vEjRWeJCrze8SNFZ4kA=="},
                {**good, "traceId": "00" * 16}, {**good, "name": None}, {**good, "name": 5},
                {**good, "name": "n" * 9000}, {**good, "startTimeUnixNano": 0}, {**good, "startTimeUnixNano": -3},
                {**good, "startTimeUnixNano": 1.5e18}, {**good, "startTimeUnixNano": "12x"},
                {**good, "endTimeUnixNano": T - 1}, {**good, "endTimeUnixNano": str(1 << 63)},
                {**good, "kind": 2}, {**good, "kind": "2"}, {**good, "kind": 9}, {**good, "kind": True},
                {**good, "kind": "SPAN_KIND_BOGUS"}, {**good, "status": None}, {**good, "status": []},
                {**good, "status": {"code": "STATUS_CODE_ERROR"}}, {**good, "status": {"code": 5}},
                {**good, "status": {"message": 3}}, {**good, "events": []}, {**good, "events": {}},
                {**good, "events": [{"timeUnixNano": T, "name": "exception", "attributes": []}]},
                {**good, "attributes": [{"key": "k", "value": {"bogus": 1}}]}, {**good, "attributes": None},
                {k: v for k, v in good.items() if k not in ("kind", "status", "attributes")}]
    return orjson.dumps({"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
         "scopeSpans": [{"spans": variants}, {"spans": "nope"}]},
        {"resource": {"attributes": 5}, "scopeSpans": [{"spans": [good]}]}]})


def test_json_edge_cases_decode_to_the_same_spans_and_reasons_as_the_record_path():
    value = edge_json()
    want, reasons = json_reference(value)
    for s in want:
        s.kafka_ns = T
    got, got_reasons = _limits_free(value)
    assert got == want and got_reasons == reasons
    assert len(got) >= 15 and len(reasons) >= 12


def test_simulator_json_spans_are_the_same_records_on_both_paths():
    sim = Simulation(SimConfig(preset="shop", duration_ns=20 * 10**9, rps=20, seed=3, encoding="otlp-json"))
    values = [payload for signal, payload in sim.messages() if signal == "traces"]
    res = decode_batch("otlp_spans", values, [T] * len(values))
    want: list[Span] = []
    for v in values:
        spans, errors = json_reference(v)
        assert not errors
        want += spans
    for s in want:
        s.kafka_ns = T
    assert len(want) > 1000 and not res.errors and res.spans == want
