"""Hyperscan databases for the matcher: one per field, built from every pattern Hyperscan
accepts (the rest are named so the matcher can evaluate them with RE2), and RE2 value
predicates for what Hyperscan cannot take."""

from __future__ import annotations

from collections.abc import Callable

import hyperscan
import re2

from pipeline.query.fields import ASCII_LOWER
from pipeline.query.regex import CompiledRegex

# A character class repeated one-or-more times at the very end of a Hyperscan pattern.
_TRAILING_REPEAT = re2.compile(r"(\[(?:\^\\x\{0\}|[^\^\[\]])[^\[\]]*\])\+\z")


class HsField:
    """One field's Hyperscan database and the leaves in it."""

    def __init__(self, name: str, patterns: list[tuple[int, str]]):
        self.name = name
        self.db, self.failed = _compile_all(patterns)
        self.scratch = hyperscan.Scratch(self.db) if self.db else None
        rejected = set(self.failed)
        self.leaves = sorted({leaf for leaf, p in patterns if (leaf, p) not in rejected})
        self.fallback: list[tuple[int, Callable[[str], bool]]] = []  # set by the matcher: RE2 for values with NUL


def _existence_form(pattern: str) -> str:
    """The pattern with a trailing `[class]+` cut to `[class]`: a value has a match of one
    exactly when it has a match of the other, and the shorter form reports one end offset
    per match start instead of one per repeated character (fewer callbacks, less work).
    Only classes that cannot match NUL are cut, so the match stays inside its value."""
    m = _TRAILING_REPEAT.search(pattern)
    if m is None or (not m.group(1).startswith("[^") and "\\x{0}" in m.group(1)):
        return pattern
    return pattern[:m.start()] + m.group(1)


def _build_db(patterns: list[tuple[int, str]]) -> hyperscan.Database:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=[_existence_form(p).encode() for _, p in patterns], ids=[i for i, _ in patterns],
               elements=len(patterns), flags=[hyperscan.HS_FLAG_UTF8] * len(patterns))
    return db


def _compile_all(patterns: list[tuple[int, str]]) -> tuple[hyperscan.Database | None, list]:
    """(database of every pattern Hyperscan accepts, rejected patterns)."""
    try:
        return _build_db(patterns), []
    except hyperscan.error:
        good, failed = _compile_partition(patterns)
        return (_build_db(good) if good else None), failed


def _compile_partition(patterns: list[tuple[int, str]]) -> tuple[list, list]:
    """(compilable, rejected) patterns; Hyperscan names no culprit, so bisect on failure."""
    if not patterns:
        return [], []
    try:
        _build_db(patterns)
        return patterns, []
    except hyperscan.error:
        if len(patterns) == 1:
            return [], patterns
    mid = len(patterns) // 2
    g1, f1 = _compile_partition(patterns[:mid])
    g2, f2 = _compile_partition(patterns[mid:])
    return g1 + g2, f1 + f2


class _LazyRegex:
    """An RE2 pattern compiled on its first search (then searched directly)."""

    def __init__(self, source: str):
        self.source = source

    def search(self, value: str):
        self.search = re2.compile(self.source).search  # later calls skip this method
        return self.search(value)


def regex_pred(cr: CompiledRegex, ci: bool, lazy: bool = False) -> Callable[[str], bool]:
    """A value predicate; `lazy` defers compiling until a value passes the literal test."""
    rx = _LazyRegex(cr.re2) if lazy else re2.compile(cr.re2)
    lit = cr.literal
    if lit and not ci:
        return lambda v: lit in v and rx.search(v) is not None
    if lit:
        low = lit.translate(ASCII_LOWER)
        return lambda v: low in v.translate(ASCII_LOWER) and rx.search(v) is not None
    return lambda v: rx.search(v) is not None

