"""Checks each regular expression of a rule against both engines the matcher uses.

The stream matcher runs a regex with Hyperscan, or with RE2 when Hyperscan refuses it (or
cannot express it); ClickHouse's match() is RE2 too. A regex that both refuse parses fine
but cannot be matched anywhere, so a rule holding one must fail validation with the rule's
name and both engines' own words, not later as a traceback in the middle of a worker's start.
"""

from __future__ import annotations

import hyperscan
import re2

from pipeline.query.ast import And, AnyOf, Match, Node, Not, Or
from pipeline.query.fields import match_regex
from pipeline.query.regex import compile_regex

_QUIET = re2.Options()
_QUIET.log_errors = False  # the message goes into our error, not onto stderr


def _matches(node: Node):
    """Every string match of a parsed query (the leaves that become regexes)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (And, Or)):
            stack.extend(n.items)
        elif isinstance(n, Not):
            stack.append(n.item)
        elif isinstance(n, AnyOf):
            stack.extend(n.members)
        elif isinstance(n, Match) and n.kind != "exists":
            yield n


def _text(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    return (arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)).strip()


def _re2_refusal(pattern: str) -> str | None:
    try:
        re2.compile(pattern, _QUIET)
    except re2.error as exc:
        return _text(exc) or "refused"
    return None


def _hyperscan_refusal(pattern: str | None) -> str | None:
    if pattern is None:
        return "not used for this pattern (it can match an empty value)"
    try:
        hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK).compile(expressions=[pattern.encode()], ids=[0], elements=1,
                                                                 flags=[hyperscan.HS_FLAG_UTF8])
    except hyperscan.error as exc:
        return _text(exc) or "refused"
    return None


def refused_by_both(tree: Node) -> list[tuple[str, str, str]]:
    """(regex source, Hyperscan's message, RE2's message) for each match neither engine takes."""
    out = []
    for m in _matches(tree):
        source, ci = match_regex(m)
        compiled = compile_regex(source, ci)
        re2_says = _re2_refusal(compiled.re2)
        if re2_says is None:
            continue
        hs_says = _hyperscan_refusal(compiled.hs)
        if hs_says is not None:
            out.append((source, hs_says, re2_says))
    return out
