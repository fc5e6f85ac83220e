"""Tree rewrites that keep a query's meaning and make it cheaper to evaluate.

Flattening nested AND/OR, double-negation removal, constant folding (including matches
every value satisfies, duplicates and `x AND NOT x`), and merging OR-ed string matches on
one field into a single AnyOf leaf: one Hyperscan pattern set in the stream, one
multiSearchAny / multiMatchAny / IN in SQL.
"""

from __future__ import annotations

from pipeline.query.ast import And, AnyOf, Const, Match, Node, Not, Or
from pipeline.query.fields import match_regex
from pipeline.query.regex import compile_regex


def optimize(node: Node) -> Node:
    """The optimised equivalent of `node` (the input tree is not modified)."""
    return _opt(node)


def _opt(node: Node) -> Node:
    if isinstance(node, Match):
        if node.kind != "exists" and compile_regex(*match_regex(node)).always:
            return Const(True)
        return node
    if isinstance(node, Not):
        inner = _opt(node.item)
        if isinstance(inner, Not):
            return inner.item
        if isinstance(inner, Const):
            return Const(not inner.value)
        return Not(inner)
    if isinstance(node, (And, Or)):
        is_and = isinstance(node, And)
        kind = And if is_and else Or
        items: list[Node] = []
        seen: set[Node] = set()
        for child in node.items:
            c = _opt(child)
            for part in (c.items if isinstance(c, kind) else (c,)):
                if isinstance(part, Const):
                    if part.value != is_and:  # FALSE in AND, TRUE in OR decides it
                        return Const(part.value)
                    continue
                if part not in seen:
                    seen.add(part)
                    items.append(part)
        for part in items:
            if Not(part) in seen or (isinstance(part, Not) and part.item in seen):
                return Const(not is_and)  # x AND NOT x / x OR NOT x
        if not is_and:
            items = _merge_or(items)
        if not items:
            return Const(is_and)
        return items[0] if len(items) == 1 else kind(tuple(items))
    return node


def _merge_or(items: list[Node]) -> list[Node]:
    """Group OR-ed string matches (not exists) on the same field into AnyOf leaves."""
    groups: dict[str, list[Match]] = {}
    for it in items:
        if isinstance(it, Match) and it.kind != "exists":
            groups.setdefault(it.field, []).append(it)
        elif isinstance(it, AnyOf):
            groups.setdefault(it.field, []).extend(it.members)
    out: list[Node] = []
    done: set[str] = set()
    for it in items:
        field = it.field if isinstance(it, (Match, AnyOf)) and not (
            isinstance(it, Match) and it.kind == "exists") else None
        if field is None:
            out.append(it)
        elif field not in done:
            done.add(field)
            members = groups[field]
            out.append(members[0] if len(members) == 1 else AnyOf(field, tuple(members)))
    return out
