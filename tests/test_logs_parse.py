"""Log parsing: formats, time stamps, severities, trace ids, producer-wins, failure marks."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest.logs import extract_ids, normalize_trace_id, parse_line, parse_logs
from pipeline.ingest.logs.severity import from_syslog, from_value, severity_name
from pipeline.ingest.logs.timestamps import parse_epoch, parse_timestamp
from pipeline.model import LogRecord

NS = 1_000_000_000
T0 = calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0)) * NS  # 2024-01-02T03:04:05Z
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def rec(body: str, **kw) -> LogRecord:
    return LogRecord(time_ns=kw.pop("time_ns", 0), body=body, **kw)


@pytest.mark.parametrize("text,expected", [
    ("2024-01-02T03:04:05Z", T0),
    ("2024-01-02T03:04:05.123456789Z", T0 + 123456789),
    ("2024-01-02 03:04:05,250", T0 + 250_000_000),
    ("2024-01-02T04:04:05+01:00", T0),
    ("2024-01-02T00:04:05-0300", T0),
    ("2024/01/02 03:04:05", T0),
    ("02/Jan/2024:04:04:05 +0100", T0),
    ("Tue, 02 Jan 2024 03:04:05 GMT", T0),
])
def test_timestamp_shapes(text, expected):
    assert parse_timestamp(text) == expected


def test_zone_less_stamp_uses_default_zone():
    assert parse_timestamp("2024-01-02 04:04:05", "Europe/Berlin") == T0
    assert parse_timestamp("2024-07-02 05:04:05", "Europe/Berlin") == parse_timestamp("2024-07-02T03:04:05Z")


def test_epoch_units_by_magnitude():
    s = T0 // NS
    assert parse_epoch(s) == T0
    assert parse_epoch(str(s * 1000 + 5)) == T0 + 5_000_000
    assert parse_epoch(s * 1_000_000) == T0
    assert parse_epoch(T0 + 7) == T0 + 7
    assert parse_epoch(f"{s}.5") == T0 + NS // 2
    assert parse_epoch("12") is None  # a counter, not a time


def test_bsd_stamp_takes_year_from_reference():
    ref = T0 + 3600 * NS
    assert parse_timestamp("Jan  2 03:04:05", reference_ns=ref) == T0
    # A December stamp seen in early January belongs to the previous year.
    dec = parse_timestamp("Dec 31 23:00:00", reference_ns=ref)
    assert dec == calendar.timegm((2023, 12, 31, 23, 0, 0, 0, 0, 0)) * NS


@pytest.mark.parametrize("value,number,name", [
    ("warning", 13, "WARN"), ("ERR", 17, "ERROR"), ("Information", 9, "INFO"), ("critical", 21, "FATAL"),
    (30, 9, "INFO"), (50, 17, "ERROR"), ("3", 17, "ERROR"), (7, 5, "DEBUG"), ("nonsense", 0, ""),
])
def test_severity_words_and_numbers(value, number, name):
    assert from_value(value) == number
    assert severity_name(number) == name


def test_syslog_severity_scale_is_ordered():
    nums = [from_syslog(c) for c in range(8)]
    assert nums == sorted(nums, reverse=True) and all(1 <= n <= 24 for n in nums)


def test_json_line_fields_and_flattened_attributes():
    line = ('{"time":"2024-01-02T03:04:05Z","level":"warning","msg":"slow query","service":{"name":"pay"},'
            f'"host":"db-1","http":{{"status":503,"ok":false}},"trace_id":"{TRACE.upper()}","span_id":"{SPAN}"}}')
    p, failed = parse_line(line)
    assert not failed and p.format == "json"
    assert (p.time_ns, p.severity_number, p.severity_text) == (T0, 13, "WARN")
    assert (p.message, p.service, p.host, p.trace_id, p.span_id) == ("slow query", "pay", "db-1", TRACE, SPAN)
    assert p.attributes == {"http.status": "503", "http.ok": "false"}


def test_logfmt_line():
    p, failed = parse_line('ts=2024-01-02T03:04:05Z level=error msg="dial tcp: connection refused" '
                           'svc=checkout retry=3 ok')
    assert not failed and p.format == "logfmt"
    assert (p.time_ns, p.severity_text, p.message) == (T0, "ERROR", "dial tcp: connection refused")
    assert p.attributes == {"svc": "checkout", "retry": "3", "ok": "true"}


def test_rfc5424_with_structured_data():
    line = ('<165>1 2024-01-02T03:04:05.003Z host1 evntslog 42 ID47 '
            '[exampleSDID@32473 iut="3" eventSource="Appl\\"ication"] An application event')
    p, failed = parse_line(line)
    assert not failed and p.format == "syslog5424"
    assert (p.time_ns, p.host, p.service, p.message) == (T0 + 3_000_000, "host1", "evntslog", "An application event")
    assert p.severity_number == from_syslog(165 & 7)
    assert p.attributes["exampleSDID@32473.eventSource"] == 'Appl"ication'
    assert p.attributes["syslog.facility"] == "20" and p.attributes["syslog.procid"] == "42"


def test_rfc3164_with_and_without_pri():
    for line in ("<11>Jan  2 03:04:05 web-1 nginx[77]: upstream timed out", "Jan  2 03:04:05 web-1 nginx[77]: upstream timed out"):
        p, failed = parse_line(line, reference_ns=T0)
        assert not failed and p.format == "syslog3164"
        assert (p.time_ns, p.host, p.service, p.message) == (T0, "web-1", "nginx", "upstream timed out")
        assert p.attributes["syslog.procid"] == "77"
    assert parse_line("<11>Jan  2 03:04:05 web-1 nginx: x", reference_ns=T0)[0].severity_text == "ERROR"


def test_container_wrapper_parses_inner_line():
    line = ('{"log":"{\\"level\\":\\"error\\",\\"msg\\":\\"boom\\"}\\n","stream":"stderr",'
            '"time":"2024-01-02T03:04:05.5Z"}')
    p, failed = parse_line(line)
    assert not failed and p.format == "container/json"
    assert (p.message, p.severity_text, p.time_ns) == ("boom", "ERROR", T0 + NS // 2)
    assert p.attributes["stream"] == "stderr"


def test_container_wrapper_inner_time_wins():
    line = '{"log":"ts=2024-01-02T03:04:05Z level=info msg=hi\\n","stream":"stdout","time":"2025-01-01T00:00:00Z"}'
    p, _ = parse_line(line)
    assert p.format == "container/logfmt" and p.time_ns == T0


def test_free_text_keeps_line_and_finds_time_and_level():
    line = "2024-01-02 03:04:05.100 ERROR [main] c.e.Svc - payment failed"
    p, failed = parse_line(line)
    assert not failed and p.format == "text" and p.message == line
    assert (p.time_ns, p.severity_text) == (T0 + 100_000_000, "ERROR")


@pytest.mark.parametrize("text,trace,span", [
    (f"traceparent: 00-{TRACE}-{SPAN}-01 GET /", TRACE, SPAN),
    (f"handled trace_id={TRACE} span_id={SPAN}", TRACE, SPAN),
    (f"TraceID: {TRACE.upper()}", TRACE, ""),
    (f"X-B3-TraceId: {SPAN} X-B3-SpanId: {SPAN}", "0" * 16 + SPAN, SPAN),
    ('{"traceId": "' + TRACE + '"}', TRACE, ""),
    ("trace_id=" + "0" * 32, "", ""),
    ("nothing here", "", ""),
])
def test_trace_ids_from_text(text, trace, span):
    assert extract_ids(text) == (trace, span)


def test_trace_id_normalisation():
    assert normalize_trace_id(SPAN.upper()) == "0" * 16 + SPAN
    assert normalize_trace_id("xyz") == "" and normalize_trace_id("0" * 32) == ""


def test_parse_logs_in_place_producer_fields_win():
    r = rec('{"level":"debug","msg":"m","service":"parsed","trace_id":"' + TRACE + '","k":"parsed"}',
            severity_number=17, severity_text="ERROR", service="producer", trace_id="a" * 32,
            attributes={"k": "producer"}, time_ns=5 * NS, observed_ns=9 * NS)
    parse_logs([r])
    assert (r.severity_number, r.severity_text, r.service, r.trace_id) == (17, "ERROR", "producer", "a" * 32)
    assert r.attributes == {"k": "producer"} and r.body == "m" and r.time_ns == 5 * NS


def test_raw_text_takes_time_from_text_not_kafka():
    r = rec("2024-01-02T03:04:05Z boom", time_ns=99 * NS, observed_ns=99 * NS)
    parse_logs([r])
    assert r.time_ns == T0 and r.format == "text" and r.body == "2024-01-02T03:04:05Z boom"


def test_trace_id_from_message_fills_record():
    r = rec(f"level=info msg=\"call done traceparent=00-{TRACE}-{SPAN}-01\" svc=a")
    parse_logs([r])
    assert (r.trace_id, r.span_id) == (TRACE, SPAN)


def test_unparseable_structured_line_is_kept_and_marked():
    r = rec('{"level": "error", broken')
    parse_logs([r])
    assert r.parse_failed and r.format == "text" and r.body == '{"level": "error", broken'


def test_explicit_format_mismatch_marks_failure():
    r = rec("plain words only")
    parse_logs([r], fmt="json")
    assert r.parse_failed and r.body == "plain words only"
    with pytest.raises(ValueError):
        parse_logs([r], fmt="xml")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_parsing_never_raises_and_never_drops(body):
    r = rec(body)
    parse_logs([r])
    assert isinstance(r.body, str)
    if r.format == "text":
        assert r.body == body


def test_cri_runtime_line_parses_inner_line():
    p, failed = parse_line('2024-01-02T03:04:05.5Z stderr F {"level":"error","msg":"boom"}')
    assert not failed and p.format == "container/json"
    assert (p.message, p.severity_text, p.time_ns) == ("boom", "ERROR", T0 + NS // 2)
    assert p.attributes == {"stream": "stderr"}
    p, _ = parse_line("2024-01-02T03:04:05Z stdout P partial text", fmt="container")
    assert p.format == "container/text" and p.message == "partial text"
    assert p.attributes["log.partial"] == "true"


def test_klog_header():
    p, failed = parse_line("E0102 03:04:05.250000   4711 reflector.go:138] watch failed: EOF", reference_ns=T0)
    assert not failed and p.format == "klog"
    assert (p.time_ns, p.severity_text, p.message) == (T0 + 250_000_000, "ERROR", "watch failed: EOF")
    assert p.attributes == {"thread.id": "4711", "code.location": "reflector.go:138"}


@pytest.mark.parametrize("line,level", [
    ("2024-01-02 03:04:05 WARN disk almost full", "WARN"),
    ("[error] upstream closed", "ERROR"),
    ("retry finished, no error found", ""),
    ("INFO: started", "INFO"),
])
def test_free_text_level_words(line, level):
    assert parse_line(line)[0].severity_text == level


def test_wrapper_fields_fill_what_the_inner_line_lacks():
    line = '{"log":"user logged in","time":"2024-01-02T03:04:05Z","level":"warn","kubernetes":{"host":"n1"}}'
    p, _ = parse_line(line)
    assert (p.format, p.message, p.severity_text, p.time_ns) == ("container/text", "user logged in", "WARN", T0)
    assert p.attributes["kubernetes.host"] == "n1"


def test_structured_line_without_message_keeps_whole_line():
    line = '{"event":"","user":7,"action":"login"}'
    r = rec(line)
    parse_logs([r])
    assert r.format == "json" and r.body == line and r.attributes["action"] == "login"
