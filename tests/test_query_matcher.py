"""Optimizer and stream matcher: rewrites keep meaning; batch matching equals a naive
record-by-record evaluation of the unoptimised tree."""

from __future__ import annotations

import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.model import LogRecord
from pipeline.query import Rule, RuleMatcher, compile_rules, default_rules, optimize, parse, tag_logs
from pipeline.query.ast import And, AnyOf, Compare, Const, Match, Not, Or
from pipeline.query.fields import column_of, match_regex
from pipeline.query.regex import compile_regex

try:  # share the query generator with the SQL agreement test
    from tests.test_query_sql_agreement import _base_logs, queries
except ImportError:  # pragma: no cover - run from inside tests/
    from test_query_sql_agreement import _base_logs, queries


def _value(rec: LogRecord, field: str) -> str:
    col = column_of(field)
    return getattr(rec, col) if col else rec.attributes.get(field, "")


def naive(node, rec: LogRecord) -> bool:
    """Reference semantics, one record and one node at a time (RE2 for every string match)."""
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Not):
        return not naive(node.item, rec)
    if isinstance(node, And):
        return all(naive(i, rec) for i in node.items)
    if isinstance(node, Or):
        return any(naive(i, rec) for i in node.items)
    if isinstance(node, AnyOf):
        return any(naive(m, rec) for m in node.members)
    if isinstance(node, Compare):
        if node.field == "level":
            v = float(rec.severity_number)
        else:
            s = _value(rec, node.field)
            if not re2.search(r"^-?[0-9]+(?:\.[0-9]+)?\z", s):
                return False
            v = float(s)
        return {">": v > node.number, ">=": v >= node.number, "<": v < node.number, "<=": v <= node.number}[node.op]
    if node.kind == "exists":
        return node.field in rec.attributes if column_of(node.field) is None else _value(rec, node.field) != ""
    return re2.search(compile_regex(*match_regex(node)).re2, _value(rec, node.field)) is not None


_S = settings(max_examples=120, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@_S
@given(queries())
def test_optimizer_preserves_meaning(q):
    try:
        raw = parse(q)
    except Exception:
        return
    opt = optimize(raw)
    for rec in _base_logs():
        assert naive(raw, rec) == naive(opt, rec), (q, str(opt), rec.body)


@_S
@given(st.lists(queries(), min_size=1, max_size=6))
def test_batch_matcher_equals_naive_evaluation(qs):
    rules = []
    for i, q in enumerate(qs):
        try:
            parse(q)
        except Exception:
            continue
        rules.append(Rule(f"r{i}", q))
    logs = _base_logs()
    got = RuleMatcher(rules).match_batch(logs)
    want = [tuple(sorted(r.id for r in rules if naive(parse(r.query), rec))) for rec in logs]
    assert got == want


def test_optimizer_rewrites():
    a, b = Match("message", "term", "a"), Match("message", "term", "b")
    assert optimize(parse("NOT NOT a")) == a
    assert optimize(parse("(a AND (b AND c)) AND a")) == And((a, b, Match("message", "term", "c")))
    assert optimize(parse("a OR NOT a")) == Const(True)
    assert optimize(parse("a AND NOT a")) == Const(False)
    assert optimize(parse("x AND message:/.*/")) == Match("message", "term", "x")
    assert optimize(parse('message:"" OR a')) == Const(True)
    merged = optimize(parse("a OR /b+/ OR service:x OR b"))
    assert merged == Or((AnyOf("message", (a, Match("message", "regex", "b+"), b)), Match("service", "term", "x")))


def rec(body, **kw):
    return LogRecord(time_ns=0, body=body, **kw)


def test_rules_with_negation_match_lines_without_any_hit():
    m = RuleMatcher([Rule("not-info", "NOT level:info"), Rule("either", "a OR NOT service:x"),
                     Rule("all", "message:*"), Rule("none", "message:* AND NOT message:*")])
    logs = [rec("a", severity_text="INFO", service="x"), rec("", severity_text="Info"),
            rec("zzz", severity_text="error", service="x")]
    assert m.match_batch(logs) == [("all", "either"), ("either",), ("all", "not-info")]


def test_field_semantics():
    logs = [rec("Connection REFUSED by peer", service="payment", host="web-12",
                attributes={"status": "503", "http.request.headers.user-agent": "curl/8"}),
            rec("timeouts happen", service="payments", host="db-1", attributes={"status": "abc"}),
            rec("read timeout, retrying", severity_text="WARNING", severity_number=13)]
    cases = {
        "phrase": ('"connection refused"', [0]),
        "token": ("timeout", [2]),
        "token-wild": ("timeout*", [1, 2]),
        "exact": ("service:payment", [0]),
        "glob": ("host:web-*", [0]),
        "attr-exists": ("http.request.headers.user-agent:*", [0]),
        "numeric": ("status >= 500", [0]),
        "numeric-not": ("NOT status >= 500", [1, 2]),
        "level-ci": ("level:warning", [2]),
        "level-num": ("level >= warn", [2]),
        "regex-ci": ("/refused BY/i", [0]),
        "regex-cs": ("/refused BY/", []),
        "ne": ("service != payment", [1, 2]),
    }
    rules = [Rule(k, q) for k, (q, _) in cases.items()]
    got = compile_rules(rules).match_batch(logs)
    for k, (_, want) in cases.items():
        assert [i for i, ids in enumerate(got) if k in ids] == want, k


def test_values_with_nul_bytes_and_anchored_fallback_leaves():
    m = RuleMatcher([Rule("oom", "/OOMKilled/"), Rule("start", "/^GET/"), Rule("mid", "/x(a|^)b/"),
                     Rule("empty", 'service:""')])
    logs = [rec("a\x00OOMKilled", service="\x00"), rec("GET /", service=""), rec("xab"), rec("GET\x00")]
    assert m.match_batch(logs) == [("oom",), ("empty", "start"), ("empty", "mid"), ("empty", "start")]


def test_tag_fills_rules_and_named_captures_without_overwriting():
    rules = [Rule("code", "message:/status=(?P<status>5\\d\\d)/"), Rule("x", "x")]
    logs = [rec("GET status=503 x"), rec("status=502", attributes={"status": "keep"}), rec("ok")]
    tag_logs(logs, rules)
    assert [r.rules for r in logs] == [["code", "x"], ["code"], []]
    assert logs[0].attributes == {"status": "503"} and logs[1].attributes == {"status": "keep"}


def test_compiled_matchers_are_cached_by_rule_set():
    a = [Rule("a", "x"), Rule("b", "y")]
    assert compile_rules(a) is compile_rules(list(reversed(a)))
    assert compile_rules(a) is not compile_rules([Rule("a", "x"), Rule("b", "z")])


def test_batches_of_any_size_agree():
    m = compile_rules(default_rules())
    logs = [rec(b) for b in ["connection refused", "fine", "java.lang.OutOfMemoryError", ""] * 50]
    whole = m.match_batch(logs)
    parts = [ids for i in range(0, len(logs), 7) for ids in m.match_batch(logs[i:i + 7])]
    assert whole == parts and m.match_batch([]) == []


def test_trailing_repeats_cut_for_scanning_keep_answers():
    # Trailing `x+` classes are scanned as one `x` (hsdb._existence_form); answers must
    # stay RE2's, including multi-byte text, values ending mid-run and repeated hits.
    rules = [Rule("code", r"message:/code \d+/"), Rule("id", r"message:/id=\S+/"),
             Rule("dot", "message:/é.+/"), Rule("neg", "message:/k[^ ]+/"),
             Rule("ci", "message:/ab[c-e]+/i")]
    m = RuleMatcher(rules)
    assert m._rule_of_leaf is not None  # one leaf per rule: the no-expansion path
    bodies = ["code 5", "code  5", "code 500 code 42", "id=ü", "id=", "id= x", "é", "éé", "éx\x00y",
              "k", "kö", "k k", "ABC", "abz", "abcde id=1 code 1 k1", "", "x\x00code 7"]
    logs = [rec(b) for b in bodies]
    want = [tuple(sorted(r.id for r in rules if naive(optimize(parse(r.query)), x))) for x in logs]
    assert m.match_batch(logs) == want
    assert sum(map(bool, want)) >= 8  # the cases really exercise hits


def test_every_stored_column_has_a_value_reader():
    from pipeline.column_batch import ColumnBatch
    from pipeline.ingest.logs.columns import RECORD_READERS, BatchColumns
    from pipeline.query.fields import COLUMNS
    assert set(COLUMNS.values()) == set(RECORD_READERS)
    rec = LogRecord(time_ns=0, body="b", service="s", host="h", instance="i", trace_id="t", span_id="p",
                    severity_text="ERROR")
    want = {"body": "b", "severity_text": "ERROR", "service": "s", "host": "h", "instance": "i", "trace_id": "t",
            "span_id": "p"}
    assert {col: read([rec])[0] for col, read in RECORD_READERS.items()} == want
    batch = BatchColumns(ColumnBatch.of(LogRecord, [rec]))  # the hot path's columns read the same
    assert {col: batch.column(col)[0] for col in RECORD_READERS} == want


def test_leaves_sharing_one_pattern_each_keep_their_answer():
    # Case-folded phrases that differ only in case, a regex alone and inside an AnyOf and a
    # negation over a shared one compile to one database pattern per distinct source
    # (hsdb.HsField's `fan`); every leaf must still answer as RE2 does on its own.
    rules = [Rule("a", 'message:"Convert"'), Rule("b", 'message:"convert"'), Rule("c", 'message:"CONVERT" OR x1'),
             Rule("d", "message:/ok[0-9]+/"), Rule("e", "message:/ok[0-9]+/ OR message:/z{2}/"),
             Rule("f", 'NOT message:"convert" AND y'), Rule("g", "message:/z{2}/"), Rule("h", 'message:"grüße"')]
    m = RuleMatcher(rules)
    fld = next(f for f in m._fields if f.name == "message")
    assert fld.fan is not None and len(fld.leaves) > len(fld.fan[0])
    bodies = ["convert ok12", "CoNvErT", "y", "y convert", "zz y", "x1 ok", "", "a\x00convert zz", "ok1 zz Convert",
              "GRüßE\x00", "x\x00GRÜSSE y", "\x00CONVERT\x00"]  # NUL: each leaf by RE2 or its phrase
    logs = [rec(b) for b in bodies * 3]
    want = [tuple(sorted(r.id for r in rules if naive(optimize(parse(r.query)), x))) for x in logs]
    assert m.match_batch(logs) == want
    assert sum(len(w) for w in want) >= 20
