"""Logs as columns from decode on: the log stage on a ColumnBatch gives exactly what it gives
on LogRecords (the one implementation serves both), for every input format."""

from __future__ import annotations

import orjson

from pipeline.column_batch import ColumnBatch
from pipeline.config import Settings
from pipeline.ingest.decode import decode_batch
from pipeline.ingest.logs import parse_logs
from pipeline.ingest.logs.templates import TemplateMiner
from pipeline.ingest.stage import Ingestor
from pipeline.model import LogRecord
from pipeline.query import compile_rules
from pipeline.query.rulefile import Rule
from tests import otlp_samples as samples

NOW = 1_733_000_000 * 10**9
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
LINES = (
    b'{"level":"error","msg":"payment failed status=503","trace_id":"' + TRACE.encode() + b'","user":"u1"}\n'
    b"2024-03-01T10:00:00Z WARN cart: retry 3 of 5 status=502\n"
    b"level=info msg=\"checkout ok\" status=200 host=node-7\n"
    b"<13>Mar  1 10:00:00 node-2 app[42]: disk full on /var status=507\n"
    b"I0301 10:00:00.000000   1 main.go:42] started in 12ms\n"
    b"plain text line trace " + TRACE.encode() + b" with no level\n"
)
EVENTS = b"\n".join(orjson.dumps(e) for e in (
    {"signal": "log", "time": "2024-03-01T10:00:01Z", "body": "db timeout after 30s status=504",
     "severity": "ERROR", "service": "orders", "trace_id": TRACE, "attributes": {"k": "v"}},
    {"signal": "log", "body": "cache miss ratio 0.4", "service": "orders"},
))
RULES = [Rule("5xx", "message:/status=(?P<status>5\\d\\d)/"), Rule("err", "level:error"),
         Rule("user", "user:/(?P<who>u\\d)/"), Rule("any-trace", "trace_id:*")]


def _stage(logs, matcher, miner: TemplateMiner) -> None:
    parse_logs(logs, "auto", "UTC")
    matcher.tag(logs)
    miner.assign(logs)


def _inputs() -> list[tuple[str, bytes]]:
    pb, js, _ = samples.logs(3, 4)
    return [("raw_logs", LINES), ("events", EVENTS), ("otlp_logs", pb), ("otlp_logs", js)]


def test_the_log_stage_on_columns_equals_it_on_records():
    matcher = compile_rules(RULES)
    for kind, value in _inputs():
        cols = decode_batch(kind, [value], [NOW]).logs
        recs = decode_batch(kind, [value], [NOW]).logs.records()  # a second decode: no shared dicts
        assert type(cols) is ColumnBatch and cols.cls is LogRecord and len(cols) == len(recs) > 0, kind
        _stage(cols, matcher, TemplateMiner())
        _stage(recs, matcher, TemplateMiner())
        assert cols.records() == recs, kind
        assert all(r.format and r.template_id and r.kafka_ns == NOW for r in recs), kind
    tagged = decode_batch("raw_logs", [LINES], [NOW]).logs
    _stage(tagged, matcher, TemplateMiner())
    first = tagged[0]  # the stage really ran: parsed, tagged, captured
    assert first.body == "payment failed status=503" and first.trace_id == TRACE
    assert sorted(first.rules) == ["5xx", "any-trace", "err", "user"]
    assert first.attributes["status"] == "503" and first.attributes["who"] == "u1"


def test_each_source_sees_the_times_the_log_stage_read():
    ing = Ingestor(Settings())
    a = b"2024-03-01T10:00:00Z ERROR first " + TRACE.encode() + b"\n"
    b = b"2024-03-01T11:00:00Z ERROR second " + TRACE.encode() + b"\n"
    merged, each = ing.process_sources("telemetry.raw_logs", [([0], [a], [NOW]), ([1], [b], [NOW])])
    stamp = 1_709_287_200 * 10**9  # 2024-03-01T10:00:00Z
    assert merged.logs.column("time_ns") == [stamp, stamp + 3600 * 10**9]
    assert [r.logs.column("time_ns") for r in each] == [[stamp], [stamp + 3600 * 10**9]]
    assert [r.logs.column("severity_text") for r in each] == [["ERROR"], ["ERROR"]]


def test_lines_batch_holds_fresh_logs_with_their_own_dicts():
    from pipeline.ingest.logs.columns import lines_batch
    lines = [line.decode() for line in LINES.splitlines()]
    batch = lines_batch(lines)
    assert batch == [LogRecord(time_ns=0, body=line) for line in lines]
    attrs = batch.column("attributes")
    assert len({id(a) for a in attrs}) == len(lines)  # parsing one line's fields touches no other
    parse_logs(batch, "auto")
    recs = [LogRecord(time_ns=0, body=line) for line in lines]
    parse_logs(recs, "auto")
    assert batch.records() == recs
