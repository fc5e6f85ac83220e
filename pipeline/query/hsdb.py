"""One field's patterns compiled for scanning (pipeline/query/matcher.py): a Hyperscan
database of the patterns it accepts, and RE2 predicates for the leaves it cannot take."""

from __future__ import annotations

from collections.abc import Callable

import hyperscan
import re2

from pipeline.query.fields import ASCII_LOWER
from pipeline.query.regex import CompiledRegex

# A character class repeated one-or-more times at the very end of a Hyperscan pattern.
_TRAILING_REPEAT = re2.compile(r"(\[(?:\^\\x\{0\}|[^\^\[\]])[^\[\]]*\])\+\z")


def existence_form(pattern: str) -> str:
    """The pattern with a trailing `[class]+` cut to `[class]`: a value has a match of one
    exactly when it has a match of the other, and the shorter form reports one end offset
    per match start instead of one per repeated character (fewer callbacks, less work).
    Only classes that cannot match NUL are cut, so the match stays inside its value."""
    m = _TRAILING_REPEAT.search(pattern)
    if m is None or (not m.group(1).startswith("[^") and "\\x{0}" in m.group(1)):
        return pattern
    return pattern[:m.start()] + m.group(1)


def build_db(patterns: list[tuple[int, str]]) -> hyperscan.Database:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=[existence_form(p).encode() for _, p in patterns], ids=[i for i, _ in patterns],
               elements=len(patterns), flags=[hyperscan.HS_FLAG_UTF8] * len(patterns))
    return db


def compile_all(patterns: list[tuple[int, str]]) -> tuple[hyperscan.Database | None, list]:
    """(database of every pattern Hyperscan accepts, rejected patterns)."""
    try:
        return build_db(patterns), []
    except hyperscan.error:
        good, failed = compile_partition(patterns)
        return (build_db(good) if good else None), failed


def compile_partition(patterns: list[tuple[int, str]]) -> tuple[list, list]:
    """(compilable, rejected) patterns; Hyperscan names no culprit, so bisect on failure."""
    if not patterns:
        return [], []
    try:
        build_db(patterns)
        return patterns, []
    except hyperscan.error:
        if len(patterns) == 1:
            return [], patterns
    mid = len(patterns) // 2
    g1, f1 = compile_partition(patterns[:mid])
    g2, f2 = compile_partition(patterns[mid:])
    return g1 + g2, f1 + f2


def re2_predicate(cr: CompiledRegex, ci: bool) -> Callable[[str], bool]:
    """A value test for one compiled regex, with its required literal as a cheap pre-filter."""
    rx = re2.compile(cr.re2)
    lit = cr.literal
    if lit and not ci:
        return lambda v: lit in v and rx.search(v) is not None
    if lit:
        low = lit.translate(ASCII_LOWER)
        return lambda v: low in v.translate(ASCII_LOWER) and rx.search(v) is not None
    return lambda v: rx.search(v) is not None
