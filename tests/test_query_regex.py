"""The regex dialect: accepted syntax, rejections, and per-engine translations."""

from __future__ import annotations

import hyperscan
import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.query import QueryError
from pipeline.query.regex import compile_regex


@pytest.mark.parametrize("src,message", [
    ("(a)\\1", "backreferences"), ("a(?=b)", "lookaround"), ("(?<!a)b", "lookaround"),
    ("(?>a)", "atomic"), ("(?i)a", "inline flags"), ("a++", "possessive"), ("a**", "stacked"),
    ("\\p{L}", "unsupported escape"), ("[[:alpha:]]", "POSIX"), ("[\\D]", "inside"),
    ("^*", "quantifier cannot follow an anchor"), ("a{1001}", "bad repetition"), ("(a", "unclosed group"),
    ("a)", "unmatched"), ("[a", "unclosed character class"), ("\\Z", "unsupported escape"),
    ("(?P<1x>a)", "capture group name"), ("(?P<n>a)(?P<n>b)", "duplicate"), ("a{x}", "repetition"),
])
def test_rejected_constructs(src, message):
    with pytest.raises(QueryError, match=message):
        compile_regex(src)


def test_case_insensitive_is_explicit_ascii_folding():
    cr = compile_regex("ab[x-z]é", ci=True)
    assert "(?i)" not in cr.re2
    rx = re2.compile(cr.re2)
    assert rx.search("ABY\u00e9") and rx.search("aBz\u00e9")
    assert not rx.search("ABY\u00c9")  # non-ASCII letters keep their case
    assert not re2.compile(compile_regex("k", ci=True).re2).search("\u212a")  # Kelvin sign


def test_shorthands_are_ascii_and_dot_matches_newline():
    rx = re2.compile(compile_regex("^\\w\\s\\d.$").re2)
    assert rx.search("a 1\n") and not rx.search("é 1x") and not rx.search("a\x0b1x")


def test_end_anchor_does_not_match_before_trailing_newline():
    rx = re2.compile(compile_regex("b$").re2)
    assert rx.search("ab") and not rx.search("ab\n")


def test_leading_and_trailing_dotstar_are_dropped():
    assert compile_regex(".*timeout.*").re2 == compile_regex("timeout").re2
    assert compile_regex("^.*x.*$").re2 == compile_regex("x").re2


def test_hyperscan_eligibility_of_anchors():
    assert compile_regex("^GET /").hs is not None
    assert compile_regex("(^a|b$)").hs is not None
    assert compile_regex("x(a|^)b").hs is None      # ^ after consumed text
    assert compile_regex("a$b").hs is None
    assert compile_regex("(^a)+").hs is None        # anchor inside a repetition
    assert compile_regex("a\\x00").hs is None       # NUL is the batch separator
    assert compile_regex("^\\b").hs is None          # could end on the separator
    assert compile_regex("^(^|a)b").hs is None      # two ^ on one path: two separators


def test_required_literal_and_always():
    assert compile_regex("connection (refused|reset)").literal == "connection "
    assert compile_regex("a|b").literal == ""
    assert compile_regex("x*").always and not compile_regex("\\b").always


def test_named_captures_kept_only_in_capture_form():
    cr = compile_regex("code=(?P<code>\\d+)")
    assert cr.captures == ("code",)
    assert "(?P<code>" in cr.re2_captures and "(?P<" not in cr.re2
    assert re2.compile(cr.re2_captures).search("x code=503").groupdict() == {"code": "503"}


_ATOMS = ["a", "B", "é", ".", "\\d", "\\w", "\\s", "\\S", "[a-c]", "[^b]", "\\b", "\\B", "-", " ", "\\n",
          "(a|b)", "(?:x)", "^", "$", "(^|a)", "(b|$)", "(|a)"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_ATOMS), st.sampled_from(["", "*", "+", "?", "{1,2}"])), max_size=6),
       st.booleans(), st.booleans(), st.booleans(),
       st.lists(st.text(alphabet="abcBé 1-\nx", max_size=10), max_size=6))
def test_hyperscan_batch_form_agrees_with_re2(parts, ci, start, end, values):
    """The NUL-joined Hyperscan form finds exactly the values RE2 finds."""
    src = ("^" if start else "") + "".join(
        a + (q if a not in ("\\b", "\\B", "^", "$") else "") for a, q in parts) + ("$" if end else "")
    cr = compile_regex(src, ci)
    rx = re2.compile(cr.re2)
    want = {i for i, v in enumerate(values) if rx.search(v)}
    if cr.hs is None:
        return
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[cr.hs.encode()], ids=[0], flags=[hyperscan.HS_FLAG_UTF8])
    except hyperscan.error:
        return  # e.g. matches empty: the matcher sends such leaves to RE2
    buf = ("\x00" + "\x00".join(values) + "\x00").encode()
    seps = [i for i, b in enumerate(buf) if b == 0]
    got = set()

    def on(_id, _f, to, _fl, _c):
        last = to - 1
        line = sum(1 for s in seps if s < last) - 1 if last not in seps else seps.index(last) - 1
        if 0 <= line < len(values):
            got.add(line)

    db.scan(buf, match_event_handler=on)
    assert got == want, (src, cr.hs)
