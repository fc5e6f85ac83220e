"""Bad input of many kinds, each with the ground truth of where it must end up, and good
live-dated traffic to mix it with: the poison suite (tests/test_poison.py) and the chaos
benchmark (benchmarks/chaos.py) feed these to a real worker; docs/poison.md lists the kinds.

A good trace is three spans (a server root and two children) and one log per span, as
OTLP/JSON, dated a couple of minutes before `now`. A poison kind is a list of messages that
carry it (some also carry good records, which must be kept) and where it must end up:
"dlq" (the DLQ topic has the message, with a reason), "stored" (kept, cut or flagged) or
"store" (it passes decoding and ClickHouse refuses it: dead-lettered from `store.<table>`).
"""

from __future__ import annotations

import datetime
import gzip
from dataclasses import dataclass, field

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

S = 1_000_000_000
DAY = 86_400 * S


@dataclass
class Kind:
    name: str
    outcome: str  # "dlq" (the DLQ topic has the message), "stored", or "store" (the store refuses it)
    messages: list[tuple[str, bytes]]  # (logical topic, value)
    what: str  # what happens, for docs/poison.md
    good_spans: int = 0  # good spans these messages carry besides the poison
    stored_check: str = ""  # for "stored": a SQL condition on the raw tables that must hold
    extra: dict = field(default_factory=dict)


def kv(pairs: dict) -> list[dict]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in pairs.items()]


RESOURCE = {"attributes": kv({"service.name": "shop", "host.name": "node-1", "service.instance.id": "shop-1"})}


def trace_id(n: int, salt: int = 0) -> str:
    return f"{0x7E57 + salt:08x}{n:024x}"


def span_id(n: int, i: int) -> str:
    return f"{n:08x}{i + 1:08x}"


def json_span(n: int, i: int, start: int, **over) -> dict:
    d = {"traceId": trace_id(n), "spanId": span_id(n, i), "parentSpanId": span_id(n, 0) if i else "",
         "name": f"op{i}", "kind": 2 if i == 0 else 3, "startTimeUnixNano": str(start),
         "endTimeUnixNano": str(start + (300 if i == 0 else 100) * 1_000_000), "attributes": kv({"i": str(i)})}
    d.update(over)
    return d


def spans_doc(spans: list[dict]) -> bytes:
    return orjson.dumps({"resourceSpans": [{"resource": RESOURCE, "scopeSpans": [{"spans": spans}]}]})


def logs_doc(records: list[dict]) -> bytes:
    return orjson.dumps({"resourceLogs": [{"resource": RESOURCE, "scopeLogs": [{"logRecords": records}]}]})


class Traffic:
    """Good traces n = 0, 1, 2 …, each `spacing_ns` apart from `base_ns`."""

    def __init__(self, base_ns: int, spacing_ns: int = S // 2) -> None:
        self.base, self.spacing = base_ns, spacing_ns
        self.traces: list[int] = []

    def start(self, n: int) -> int:
        return self.base + n * self.spacing

    def spans(self, n: int) -> list[dict]:
        t = self.start(n)
        return [json_span(n, 0, t), json_span(n, 1, t + 50_000_000), json_span(n, 2, t + 150_000_000)]

    def logs(self, n: int) -> list[dict]:
        t = self.start(n)
        return [{"timeUnixNano": str(t + 60_000_000 + i * 100_000_000), "severityText": "INFO",
                 "body": {"stringValue": f"trace {n} step {i}"}, "traceId": trace_id(n), "spanId": span_id(n, i)}
                for i in range(3)]

    def trace(self, n: int) -> list[tuple[str, bytes]]:
        """Spans and logs of good trace n as two messages."""
        self.traces.append(n)
        return [("otlp_spans", spans_doc(self.spans(n))), ("otlp_logs", logs_doc(self.logs(n)))]


def _pb_truncated(tr: Traffic, n: int) -> bytes:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.spans.add(trace_id=bytes.fromhex(trace_id(n, 1)), span_id=b"\x01" * 8, name="x",
                 start_time_unix_nano=tr.start(n), end_time_unix_nano=tr.start(n) + 1)
    return req.SerializeToString()[:-3]


def _pb_bad_utf8(tr: Traffic, n: int) -> bytes:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.spans.add(trace_id=bytes.fromhex(trace_id(n, 1)), span_id=b"\x01" * 8, name="NAME",
                 start_time_unix_nano=tr.start(n), end_time_unix_nano=tr.start(n) + 1)
    return req.SerializeToString().replace(b"NAME", b"N\xffME")


def _nested(depth: int) -> dict:
    v: dict = {"stringValue": "leaf"}
    for _ in range(depth):
        v = {"arrayValue": {"values": [v]}}
    return v


def kinds(tr: Traffic, now_ns: int, first: int = 1000) -> list[Kind]:
    """Every poison kind; trace numbers from `first` on are used for the good records some carry."""
    n = iter(range(first, first + 1000))
    t = tr.start
    out: list[Kind] = []

    def add(name: str, outcome: str, messages: list[tuple[str, bytes]], what: str, **kw) -> None:
        out.append(Kind(name, outcome, messages, what, **kw))

    k = next(n)
    add("pretty-printed OTLP/JSON examples", "stored",
        [("otlp_spans", orjson.dumps(orjson.loads(spans_doc(tr.spans(k))), option=orjson.OPT_INDENT_2))],
        "one whole document per message (pretty or not) is one request", good_spans=3)
    tr.traces.append(k)
    out[-1].messages.append(("otlp_logs", logs_doc(tr.logs(k))))
    add("truncated protobuf", "dlq", [("otlp_spans", _pb_truncated(tr, next(n)))], "message error: wire format corrupt")
    add("random bytes", "dlq", [("otlp_metrics", b"\x9c\x01\xfe\xfe garbage \x00\x00")], "message error")
    add("empty message", "dlq", [("otlp_logs", b"")], "message error: empty message")
    add("invalid JSON", "dlq", [("otlp_logs", b'{"resourceLogs": [{"scopeLogs": [')], "message error: invalid JSON")
    add("wrong top-level type", "dlq", [("otlp_spans", b'[{"resourceSpans": []}]')], "message error: expected an object")
    add("wrong request on a topic", "dlq", [("otlp_metrics", spans_doc(tr.spans(next(n))))],
        "message error: no resourceMetrics")
    k = next(n)
    tr.traces.append(k)
    add("wrong field types", "dlq",
        [("otlp_spans", spans_doc(tr.spans(k) + [json_span(k, 7, t(k), traceId=12345)]))],
        "record error; the message's good spans are kept", good_spans=3)
    out[-1].messages.append(("otlp_logs", logs_doc(tr.logs(k))))
    k = next(n)
    tr.traces.append(k)
    add("bad ids (short, base64, zero)", "dlq",
        [("otlp_spans", spans_doc(tr.spans(k) + [json_span(k, 7, t(k), spanId="abc"),
                                                 json_span(k, 8, t(k), spanId="AAAAAAAAAAA="),
                                                 json_span(k, 9, t(k), traceId="0" * 32)]))],
        "record errors, summarised in one DLQ copy; good spans kept", good_spans=3)
    out[-1].messages.append(("otlp_logs", logs_doc(tr.logs(k))))
    add("end before start", "dlq",
        [("otlp_spans", spans_doc([json_span(next(n), 0, t(0), endTimeUnixNano=str(t(0) - S))]))], "record error")
    add("NaN and Inf metric values", "dlq", [("otlp_metrics", orjson.dumps({"resourceMetrics": [{
        "resource": RESOURCE, "scopeMetrics": [{"metrics": [
            {"name": "cpu", "gauge": {"dataPoints": [{"asDouble": "NaN", "timeUnixNano": str(now_ns)},
                                                     {"asDouble": "Infinity", "timeUnixNano": str(now_ns)}]}}]}]}]}))],
        "record errors")
    add("deeply nested attribute", "dlq",
        [("otlp_spans", spans_doc([json_span(next(n), 0, t(0), attributes=[{"key": "d", "value": _nested(60)}])]))],
        "record error: nested deeper than 32 levels")
    add("deeply nested JSON", "dlq", [("otlp_logs", b"[" * 100_000 + b"]" * 100_000)], "message error")
    add("invalid UTF-8 in protobuf", "dlq", [("otlp_spans", _pb_bad_utf8(tr, next(n)))],
        "message error: a string field holds invalid UTF-8")
    add("invalid UTF-8 raw line", "stored", [("telemetry.raw_logs", b"poison-utf8 \xff\xfe bad bytes")],
        "kept with U+FFFD and attribute telecorr.invalid_utf8",
        stored_check="SELECT count() = 1 FROM logs FINAL WHERE attributes['telecorr.invalid_utf8'] = 'true'")
    k = next(n)
    tr.traces.append(k)
    huge = [json_span(k, 0, t(k), attributes=kv({f"a{i}": "x" * 32_000 for i in range(230)}))] + tr.spans(k)[1:]
    add("7.4 MB span", "stored", [("otlp_spans", spans_doc(huge))],
        "largest values cut to max_record_bytes, attribute telecorr.truncated; forwarded and joined", good_spans=3,
        stored_check=f"SELECT count() = 1 FROM spans FINAL WHERE trace_id = '{trace_id(k)}' "
                     "AND attributes['telecorr.truncated'] != '' AND length(toString(attributes)) < 600000")
    out[-1].messages.append(("otlp_logs", logs_doc(tr.logs(k))))
    k = next(n)
    tr.traces.append(k)
    escaping = [json_span(k, 0, t(k), attributes=kv({f"c{i}": "\u0001" * 30_000 for i in range(15)}))] + tr.spans(k)[1:]
    add("span escaping to 2.7 MB of JSON", "stored", [("otlp_spans", spans_doc(escaping))],
        "cut until its JSON fits one re-keyed message (control characters take 6 bytes); forwarded and joined",
        good_spans=3, stored_check=f"SELECT count() = 1 FROM spans FINAL WHERE trace_id = '{trace_id(k)}' "
                                   "AND attributes['telecorr.truncated'] != ''")
    out[-1].messages.append(("otlp_logs", logs_doc(tr.logs(k))))
    add("50,000 `{}` lines", "dlq", [("telemetry.events", b"{}\n" * 50_000)],
        "one DLQ copy with a summary (records past max_records_per_message not read)")
    add("400 KB of `a\\n`", "dlq", [("telemetry.raw_logs", b"a\n" * 200_000)],
        "first max_records_per_message lines stored, one DLQ copy for the rest",
        stored_check="SELECT count() = 10000 FROM logs FINAL WHERE body = 'a'")
    add("raw line dated 0001-01-01", "stored", [("telemetry.raw_logs", b"0001-01-01T00:00:00Z poison-early")],
        "kept with its Kafka time; attribute telecorr.time_out_of_range",
        stored_check="SELECT count() = 1 FROM logs FINAL WHERE body LIKE '%poison-early%' "
                     "AND attributes['telecorr.time_out_of_range'] != ''")
    add("raw line dated 9999-12-31", "stored", [("telemetry.raw_logs", b"9999-12-31T23:59:59Z poison-late")],
        "kept with its Kafka time; attribute telecorr.time_out_of_range",
        stored_check="SELECT count() = 1 FROM logs FINAL WHERE body LIKE '%poison-late%' "
                     f"AND time_ns BETWEEN {now_ns - DAY} AND {now_ns + DAY}")
    add("event time in year 9999", "dlq",
        [("telemetry.events", b'{"signal":"log","time":"9999-12-31T23:59:59Z","body":"poison"}')],
        "record error: outside the plausible range")
    add("OTLP time 2^63+1", "dlq",
        [("otlp_spans", spans_doc([json_span(next(n), 0, 2**63 + 1, endTimeUnixNano=str(2**63 + 5))]))],
        "record error: outside the plausible range (never stored wrapped)")
    add("archive spanning 101 days", "stored",
        [("telemetry.raw_logs", b"\n".join(b"%s poison-archive day %d" % (_day(d), d) for d in range(101)))],
        "stored whole: inserts cut to 50 partition days",
        stored_check="SELECT uniqExact(toDate(fromUnixTimestamp64Nano(time_ns))) = 101 FROM logs FINAL "
                     "WHERE body LIKE '%poison-archive%'")
    future = [json_span(next(n), 0, now_ns + 20 * 3600 * S) for _ in range(4)]
    add("spans a day ahead", "stored", [("otlp_spans", spans_doc(future))],
        "stored raw; watermark share capped at Kafka time + max_skew_s, so later spans are not too late",
        stored_check=f"SELECT count() = 4 FROM spans FINAL WHERE start_ns > {now_ns + 19 * 3600 * S}")
    k = next(n)
    dup_a = spans_doc([json_span(k, 0, t(k), name="first")])
    dup_b = spans_doc([json_span(k, 0, t(k), name="second")])
    add("duplicate ids, different content", "stored", [("otlp_spans", dup_a), ("otlp_spans", dup_b)],
        "one row per id (ReplacingMergeTree keeps one version)",
        stored_check=f"SELECT count() = 1 FROM spans FINAL WHERE trace_id = '{trace_id(k)}'")
    add("gzip bomb", "dlq", [("telemetry.raw_logs", gzip.compress(b"\n" * (40 * 1024 * 1024)))],
        "message error: expands past max_batch_bytes")
    k = next(n)
    tr.traces.append(k)
    add("JSON lines and gzip in one message", "stored",
        [("otlp_spans", gzip.compress(spans_doc(tr.spans(k)[:1]) + b"\n" + spans_doc(tr.spans(k)[1:])))],
        "each line is one request", good_spans=3)
    out[-1].messages.append(("otlp_logs", logs_doc(tr.logs(k))))
    add("severity out of range", "dlq",
        [("otlp_logs", logs_doc([{"timeUnixNano": str(now_ns), "severityNumber": 99, "body": {"stringValue": "x"}}]))],
        "record error")
    add("value beyond its column (exponential offset 2^40)", "store", [("otlp_metrics", orjson.dumps({"resourceMetrics": [{
        "resource": RESOURCE, "scopeMetrics": [{"metrics": [{"name": "poison.size", "exponentialHistogram": {
            "aggregationTemporality": 1, "dataPoints": [{"timeUnixNano": str(now_ns), "count": "1", "sum": 1.0,
                                                         "positive": {"offset": 2**40, "bucketCounts": ["1"]}}]}}]}]}]}))],
        "passes decoding; ClickHouse refuses it for good (Int32 column): isolated by halving the batch, "
        "dead-lettered as its record's JSON from store.metrics, the rest of the batch stored",
        stored_check="SELECT count() >= 1 FROM dlq FINAL WHERE topic = 'store.metrics' AND preview LIKE '%poison.size%'")
    add("garbage on telemetry.by_trace", "dlq", [("telemetry.by_trace", b'{"spans": [{"trace_id": 5}], "logs": []}')],
        "checked against the model, dead-lettered, counted")
    add("wrong types on telemetry.metrics", "dlq", [("telemetry.metrics", b'[{"name": 1, "type": "gauge"}]')],
        "checked against the model, dead-lettered, counted")
    add("garbage on telemetry.skew", "dlq", [("telemetry.skew", b'"not sketches"')],
        "checked, dead-lettered, counted")
    return out


def _day(d: int) -> bytes:
    return (datetime.date(2025, 1, 1) + datetime.timedelta(days=d)).isoformat().encode() + b"T00:00:00Z"
