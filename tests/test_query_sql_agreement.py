"""Property: for any query and any logs, the stream matcher and the SQL compiler agree.

Runs the SQL against a real ClickHouse engine (chDB) on a `logs` table with the stored
schema, and the stream matcher on the same records.
"""

from __future__ import annotations

import os
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.model import LogRecord
from pipeline.query import QueryError, Rule, RuleMatcher, to_sql

LOGS_DDL = """
CREATE TABLE logs (
  id String, time_ns Int64, observed_ns Int64, service String, instance String, host String,
  trace_id String, span_id String, severity_number UInt8, severity_text String, body String,
  attributes Map(String, String), resource Map(String, String), format String,
  parse_failed Bool, rules Array(String)
) ENGINE = MergeTree ORDER BY id
"""
COLS = ["id", "time_ns", "observed_ns", "service", "instance", "host", "trace_id", "span_id",
        "severity_number", "severity_text", "body", "attributes", "resource", "format",
        "parse_failed", "rules"]

BASE_BODIES = [
    "", "error", "ERROR: connection refused to db:5432", "Timeout after 30s", "timeouts happen",
    "java.lang.OutOfMemoryError: Java heap space", "pod OOMKilled", "a\nb", "ends with newline\n",
    "café au lait", "naïve Ärger", "web-1 said hi", "status=503 GET /api", "x.y_z", "_a_b_",
    "500", "-12.5", "1e3", "  padded  ", "tab\there", "ß ſ K k", "emoji 😀 ok", "a\x00b error",
    "[brackets] (parens) {braces}", "path/to/file", "\\backslash\\", "kelvin \u212a", "ÉCOLE école",
]
ATTR_VALUES = ["", "500", "503", "200", "1.5", "-3", "abc", "1e3", " 7", "web-2", "ERROR", "0.1"]


def _record(i: int, body: str, level: str = "", num: int = 0, service: str = "", host: str = "",
            attrs: dict | None = None) -> LogRecord:
    return LogRecord(time_ns=i, body=body, severity_text=level, severity_number=num,
                     service=service, host=host, attributes=attrs or {}, id=f"{i:06d}")


def _base_logs() -> list[LogRecord]:
    levels = [("", 0), ("INFO", 9), ("error", 17), ("Warn", 13), ("FATAL", 21), ("ÉRROR", 17)]
    services = ["", "payment", "Payment", "checkout", "web-1"]
    hosts = ["", "web-1", "web-22", "db-1", "WEB-3", "web-\n"]
    out = []
    for i, body in enumerate(BASE_BODIES):
        lvl, num = levels[i % len(levels)]
        attrs = {}
        if i % 2:
            attrs["status"] = ATTR_VALUES[i % len(ATTR_VALUES)]
        if i % 3 == 0:
            attrs["http.request.headers.user-agent"] = ["curl/8", "", "Mozilla"][i % 3 // 1 % 3]
        if i % 5 == 1:
            attrs["k"] = body[:5]
        out.append(_record(i, body, lvl, num, services[i % len(services)], hosts[i % len(hosts)], attrs))
    return out


def _insert(client, logs: list[LogRecord]) -> None:
    client.command("TRUNCATE TABLE logs")
    rows = [[r.id, r.time_ns, r.observed_ns, r.service, r.instance, r.host, r.trace_id, r.span_id,
             r.severity_number, r.severity_text, r.body, r.attributes, r.resource, r.format,
             r.parse_failed, r.rules] for r in logs]
    if rows:
        client.insert("logs", rows, column_names=COLS)


def _sql_ids(client, query: str) -> set[str]:
    frag, params = to_sql(query)
    rows = client.query(f"SELECT id FROM logs WHERE {frag}", parameters=params).result_rows
    return {r[0] for r in rows}


def _stream_ids(logs: list[LogRecord], query: str) -> set[str]:
    res = RuleMatcher([Rule("q", query)]).match_batch(logs)
    return {r.id for r, ids in zip(logs, res) if ids == ("q",)}


# --- query generator -----------------------------------------------------------------

_WORDS = ["error", "Error", "timeout", "Timeout", "web-1", "web-*", "*out", "time*", "500", "503",
          "café", "école", "x.y", "a_b", "OOMKilled", "k", "refused", "-12.5", "ERROR", "info",
          "payment", "W*", "😀", "a\\*b", "e*r", "ß"]
_PHRASES = ["connection refused", "error", "", "é", "A\\\"b", "out", "heap space", "x"]
_REGEX_ATOMS = ["a", "A", "e", "r", "o", "é", "😀", ".", "\\d", "\\w", "\\s", "\\W", "[a-e]",
                "[^a]", "[Éé]", "\\b", "\\.", "\\/", "-", " ", "0", "5", "\\n", "\\x00"]
_FIELDS = ["message", "level", "service", "host", "status", "k", "http.request.headers.user-agent",
           "missing"]


@st.composite
def regexes(draw) -> str:
    def seq(depth: int) -> str:
        parts = []
        for _ in range(draw(st.integers(0, 4))):
            if depth < 2 and draw(st.integers(0, 5)) == 0:
                alts = [seq(depth + 1) for _ in range(draw(st.integers(1, 3)))]
                atom = "(" + "|".join(alts) + ")"
            else:
                atom = draw(st.sampled_from(_REGEX_ATOMS))
            if atom != "\\b" and draw(st.integers(0, 3)) == 0:
                atom += draw(st.sampled_from(["*", "+", "?", "{1,2}", "{2}", "*?"]))
            parts.append(atom)
        s = "".join(parts)
        if draw(st.booleans()) and depth == 0 and draw(st.integers(0, 3)) == 0:
            s = "^" + s
        if depth == 0 and draw(st.integers(0, 3)) == 0:
            s = s + "$"
        return s
    return seq(0)


@st.composite
def leaves(draw) -> str:
    field = draw(st.sampled_from(_FIELDS + ["", ""]))
    kind = draw(st.sampled_from(["word", "phrase", "regex", "exists", "cmp", "ne"]))
    if kind == "cmp":
        f = field or "status"
        op = draw(st.sampled_from([">", ">=", "<", "<="]))
        val = draw(st.sampled_from(["500", "0", "1.5", "-3", "warn", "13"])) if f == "level" else \
            draw(st.sampled_from(["500", "0", "1.5", "-3", "1000"]))
        return f"{f} {op} {val}"
    if kind == "word":
        v = draw(st.sampled_from(_WORDS))
    elif kind == "phrase":
        v = '"' + draw(st.sampled_from(_PHRASES)) + '"'
    elif kind == "regex":
        v = "/" + draw(regexes()) + "/" + draw(st.sampled_from(["", "i"]))
    else:
        v = "*"
    if kind == "ne":
        return f"{field or 'service'} != {draw(st.sampled_from(_WORDS))}"
    return f"{field}:{v}" if field else v


@st.composite
def queries(draw, depth: int = 0) -> str:
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return draw(leaves())
    op = draw(st.sampled_from([" AND ", " OR ", " ", " AND NOT "]))
    items = [draw(queries(depth + 1)) for _ in range(draw(st.integers(2, 3)))]
    q = "(" + op.join(items) + ")"
    return ("NOT " + q) if draw(st.integers(0, 4)) == 0 else q


def _valid(query: str) -> bool:
    try:
        to_sql(query)
        return True
    except QueryError:
        return False


@pytest.fixture
def logs_table(ch_client):
    ch_client.command(LOGS_DDL)
    return ch_client


# TELECORR_PROPERTY_EXAMPLES=N runs N random (not derandomized) examples per test instead.
_N = int(os.environ.get("TELECORR_PROPERTY_EXAMPLES", "0"))
_SETTINGS = settings(max_examples=_N or 150, deadline=None, derandomize=not _N,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow, HealthCheck.filter_too_much])


@_SETTINGS
@given(q=queries())
def test_stream_and_sql_agree_on_tricky_corpus(logs_table, q):
    assume(_valid(q))
    logs = _base_logs()
    if not getattr(logs_table, "_base_loaded", False):
        _insert(logs_table, logs)
        logs_table._base_loaded = True
    assert _stream_ids(logs, q) == _sql_ids(logs_table, q), q


_text = st.text(alphabet=st.sampled_from(list(string.ascii_letters[:8] + "AEO 05.-_:/\n\t=[]")
                                         + ["é", "É", "😀", "\x00", "ſ", "K"]), max_size=24)


@settings(max_examples=_N or 60, deadline=None, derandomize=not _N,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
@given(q=queries(), bodies=st.lists(st.tuples(_text, st.sampled_from(["", "error", "INFO", "eRRor"]),
                                              st.sampled_from(ATTR_VALUES), _text), max_size=8))
def test_stream_and_sql_agree_on_random_lines(logs_table, q, bodies):
    assume(_valid(q))
    logs = [_record(i, b, lvl, 17 if lvl.lower() == "error" else 9 if lvl else 0, service=svc,
                    host=svc, attrs={"status": st_, "k": svc})
            for i, (b, lvl, st_, svc) in enumerate(bodies)]
    _insert(logs_table, logs)
    assert _stream_ids(logs, q) == _sql_ids(logs_table, q), q
