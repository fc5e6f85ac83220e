"""Lexer and parser: the tree each syntax produces, and precise errors."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.query import QueryError, optimize, parse, to_sql
from pipeline.query.ast import And, Compare, Match, Not, Or
from pipeline.query.lexer import tokenize


@pytest.mark.parametrize("q,tree", [
    ("timeout", Match("message", "term", "timeout")),
    ('"connection refused"', Match("message", "phrase", "connection refused")),
    ("/OOM|oom/i", Match("message", "regex", "OOM|oom", ci=True)),
    ("service:payment", Match("service", "term", "payment")),
    ("msg:x", Match("message", "term", "x")),
    ("severity:ERROR", Match("level", "term", "ERROR")),
    ("host:web-*", Match("host", "glob", "web-*")),
    ("host:web\\*", Match("host", "term", "web*")),
    ("trace_id:*", Match("trace_id", "exists")),
    ("http.request.headers.user-agent:curl*", Match("http.request.headers.user-agent", "glob", "curl*")),
    ("status >= 500", Compare("status", ">=", 500.0)),
    ("latency<-1.5", Compare("latency", "<", -1.5)),
    ("level > warn", Compare("level", ">", 13.0)),
    ("service != api", Not(Match("service", "term", "api"))),
    ("service = api", Match("service", "term", "api")),
    ('path:"/a/b"', Match("path", "phrase", "/a/b")),
    ("path:/a\\/b/", Match("path", "regex", "a\\/b")),
    ('"é \\u00e9 \\" \\\\ \\n"', Match("message", "phrase", 'é é " \\ \n')),
    ("größe:groß", Match("größe", "term", "groß")),
    ("a\\:b", Match("message", "term", "a:b")),
])
def test_leaf_syntax(q, tree):
    assert parse(q) == tree


def test_precedence_and_implicit_and():
    a, b, c = (Match("message", "term", x) for x in "abc")
    assert parse("a OR b AND c") == Or((a, And((b, c))))
    assert parse("a b OR c") == Or((And((a, b)), c))
    assert parse("(a OR b) c") == And((Or((a, b)), c))
    assert parse("NOT a b") == And((Not(a), b))
    assert parse("NOT (a OR b)") == Not(Or((a, b)))
    # Lowercase words are search terms, not operators.
    assert parse("a and b") == And((a, Match("message", "term", "and"), b))


@pytest.mark.parametrize("q,pos,fragment", [
    ("", 0, "empty query"),
    ("a AND", 5, "unexpected end of query"),
    ("(a OR b", 7, "')' to close the '(' at position 0"),
    ("a)", 1, "unexpected ')'"),
    ('"open', 0, "unterminated string"),
    ("/abc", 0, "unterminated regex"),
    ("/a/x", 3, "unknown regex flag"),
    ("x:/a(?=b)/", 4, "lookaround"),
    ("/(a)\\1/", 4, "backreferences"),
    ("/(?i)a/", 1, "inline flags"),
    ("status >= abc", 10, "not a number"),
    ("field:", 6, "a value after 'field:'"),
    ("a:b:c", 3, "unexpected ':'"),
    ("na*me:x", 0, "wildcards"),
    ("OR a", 0, "unexpected 'OR'"),
    ("a\\", 1, "dangling escape"),
    ('"\\uzzzz"', 1, "bad \\u escape"),
    ("/a{2,1}/", 2, "bad repetition"),
    ("/[b-a]/", 3, "out of order"),
])
def test_errors_have_position_and_expectation(q, pos, fragment):
    with pytest.raises(QueryError) as ei:
        parse(q)
    err = ei.value
    assert err.position == pos, str(err)
    assert fragment in str(err)
    assert err.caret().splitlines()[1] == " " * pos + "^"


def test_nesting_is_bounded_with_query_error():
    with pytest.raises(QueryError, match="nests deeper"):
        parse("(" * 500 + "a" + ")" * 500)
    with pytest.raises(QueryError):
        parse("NOT " * 500 + "a")


def test_token_positions():
    toks = tokenize('a:"b c" OR /x/i')
    assert [(t.kind, t.pos) for t in toks] == [("WORD", 0), ("COLON", 1), ("STRING", 2), ("OR", 8),
                                                ("REGEX", 11), ("EOF", 15)]
    assert toks[4].flags == "i"


def test_printed_tree_parses_back_to_the_same_tree():
    q = 'service:payment AND (timeout OR /5\\d\\d\\/x/i) AND NOT level:debug AND status >= 500 AND a:"q \\" x"'
    tree = optimize(parse(q))
    assert optimize(parse(str(tree))) == tree


_FUZZ_N = int(os.environ.get("TELECORR_FUZZ_EXAMPLES", "400"))
_ALPHA = st.sampled_from(list('ab:*/\\"()<>=! ^$|?+{}[].-\n\té😀\x00') + ["AND", "OR", "NOT", "(?", "\\d", "[^"])


@settings(max_examples=_FUZZ_N, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(_ALPHA, max_size=25).map("".join)))
def test_fuzz_front_end_raises_only_query_error(text):
    """Any input compiles or raises QueryError (1M inputs: benchmarks/fuzz_query.py)."""
    try:
        to_sql(optimize(parse(text)))
    except QueryError:
        pass
