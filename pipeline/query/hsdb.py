"""Hyperscan databases for the matcher: one per field, built from every pattern Hyperscan
accepts (the rest are named so the matcher can evaluate them with RE2), and RE2 value
predicates for what Hyperscan cannot take."""

from __future__ import annotations

from collections.abc import Callable

import hyperscan
import numpy as np
import re2

from pipeline.query.ast import Match
from pipeline.query.fields import ASCII_LOWER, match_regex
from pipeline.query.regex import CompiledRegex, compile_regex
from pipeline.query.ruleplan import csr, expand

# A character class repeated one-or-more times at the very end of a Hyperscan pattern.
_TRAILING_REPEAT = re2.compile(r"(\[(?:\^\\x\{0\}|[^\^\[\]])[^\[\]]*\])\+\z")


class HsField:
    """One field's Hyperscan database and the leaves in it."""

    def __init__(self, name: str, patterns: list[tuple[int, str]]):
        self.name = name
        # Leaves with the same pattern (`"Convert"` and `"convert"` both fold case) share one
        # pattern in the database: one callback per match, not one per leaf (each costs the
        # binding a Python call). Then ids number the patterns and `fan` gives each one's
        # leaves; with no pattern shared, ids are the leaves themselves.
        groups: dict[str, list[int]] = {}
        for leaf, p in patterns:
            groups.setdefault(p, []).append(leaf)
        shared = len(groups) < len(patterns)
        ids = range(len(groups)) if shared else (leaves[0] for leaves in groups.values())
        self.db, failed = _compile_all(list(zip(ids, groups)))
        self.failed = [(leaf, p) for _, p in failed for leaf in groups[p]]
        self.scratch = hyperscan.Scratch(self.db) if self.db else None
        rejected = set(self.failed)
        self.leaves = sorted({leaf for leaf, p in patterns if (leaf, p) not in rejected})
        self.fan: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None
        if shared:  # (id -> first leaf, whether it has more, CSR of the others)
            sets = [sorted(set(leaves)) for leaves in groups.values()]
            self.fan = (np.array([s[0] for s in sets], dtype=np.int64), np.array([len(s) > 1 for s in sets]),
                        csr([s[1:] for s in sets]))
        self.fallback: list[tuple[int, Callable[[str], bool]]] = []  # set by the matcher: RE2 for values with NUL

    def leaf_keys(self, lines: np.ndarray, ids: np.ndarray, nleaves: int) -> list[np.ndarray]:
        """`line * nleaves + leaf` for each leaf of each (line, pattern id) match."""
        if self.fan is None:
            return [lines * nleaves + ids]
        first, more, rest = self.fan
        sel = more[ids]
        extra_lines, extra_leaves = expand(lines[sel], ids[sel], *rest)
        return [lines * nleaves + first[ids], extra_lines * nleaves + extra_leaves]


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



def nul_fallback_pred(m: Match) -> Callable[[str], bool]:
    """RE2's answer for one string match on a value holding NUL (those are not scanned). A
    message phrase is its own literal, ASCII case folded, so the literal test is the answer;
    other patterns are compiled only when a value first passes their literal test (most
    never do: compiling them all costs ~1 ms per 10 patterns in the first batch)."""
    src, ci = match_regex(m)
    cr = compile_regex(src, ci)
    if m.field == "message" and m.kind == "phrase" and cr.literal.translate(ASCII_LOWER) == m.value.translate(ASCII_LOWER):
        low = cr.literal.translate(ASCII_LOWER)
        return lambda v: low in v.translate(ASCII_LOWER)
    return regex_pred(cr, ci, lazy=True)
