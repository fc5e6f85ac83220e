"""Pure helpers behind the matcher's plans: a rule's tree as one lambda, which trees are a
plain OR of leaves, what a tree is worth with no leaf hit, and (line, target) expansion over
CSR-packed lists with numpy."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.query.ast import And, AnyOf, Compare, Const, Match, Node, Not, Or
from pipeline.query.errors import QueryError


def compile_expr(source: str, rule_id: str) -> Callable:
    """A rule's boolean tree as one Python lambda (generated from leaf numbers only)."""
    try:
        return eval(source)  # noqa: S307 - source is built from ints and operators, no user text
    except (SyntaxError, RecursionError, MemoryError):
        raise QueryError(f"rule {rule_id!r} is too deeply nested to compile", 0, "a flatter query") from None


def is_direct(node: Node) -> bool:
    """A leaf or an OR of leaves: true exactly when one of its leaves is."""
    if isinstance(node, (Match, Compare, AnyOf)):
        return True
    return isinstance(node, Or) and all(isinstance(i, (Match, Compare, AnyOf)) for i in node.items)


def eval_empty(node: Node) -> bool:
    """The rule's value when no leaf is true (True means it can match without any hit)."""
    if isinstance(node, (Match, Compare, AnyOf)):
        return False
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Not):
        return not eval_empty(node.item)
    if isinstance(node, And):
        return all(eval_empty(i) for i in node.items)
    return any(eval_empty(i) for i in node.items)


def csr(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows]) if rows else []
    flat = np.array([x for r in rows for x in r], dtype=np.int64)
    return ptr, flat


def expand(lines: np.ndarray, leaves: np.ndarray, ptr: np.ndarray,
            targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(line, target) for every target listed under each hit's leaf, vectorised."""
    if not len(targets):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    counts = ptr[leaves + 1] - ptr[leaves]
    total = int(counts.sum())
    if not total:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    out_lines = np.repeat(lines, counts)
    starts = np.repeat(ptr[leaves], counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return out_lines, targets[starts + offsets]


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """np.unique for keys that come nearly sorted (matches arrive line by line): a stable
    sort (timsort for int64) runs on such input several times faster than np.unique's."""
    keys = np.sort(keys, kind="stable")
    if len(keys) > 1:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys
