"""What a parsed regex tree (pipeline/query/regex.py `parse_regex`) guarantees about its
matches: where its anchors sit, its minimum length, whether it asserts anything, and a literal
every match contains. The compiler uses these to pick an engine and a pre-filter."""

from __future__ import annotations


def zero_width_anchor(n: tuple) -> bool:
    """True for nodes that consume nothing and assert nothing about neighbours (^, $ only)."""
    k = n[0]
    if k in ("bol", "eol"):
        return True
    if k == "seq":
        return all(zero_width_anchor(c) for c in n[1])
    if k == "alt":
        return all(zero_width_anchor(b) for b in n[1])
    if k == "grp":
        return zero_width_anchor(n[3])
    return False


def anchors_at_edges(n: tuple, lead: bool, trail: bool) -> bool:
    """Every ^ has nothing that can consume before it in the match, every $ nothing after:
    the condition under which ^/$ may be rewritten to the NUL separators."""
    k = n[0]
    if k == "bol":
        return lead
    if k == "eol":
        return trail
    if k == "seq":
        items = n[1]
        zw = [zero_width_anchor(x) for x in items]
        # first_consuming/last_consuming: where anchors stop being at the edge.
        first = next((i for i, z in enumerate(zw) if not z), len(items))
        last = next((i for i in range(len(items) - 1, -1, -1) if not zw[i]), -1)
        for idx, c in enumerate(items):
            if not anchors_at_edges(c, lead and idx <= first, trail and idx >= last):
                return False
        return True
    if k == "alt":
        return all(anchors_at_edges(b, lead, trail) for b in n[1])
    if k == "grp":
        return anchors_at_edges(n[3], lead, trail)
    if k == "rep":
        return anchors_at_edges(n[1], False, False)
    return True


def max_anchors(n: tuple, kind: str) -> int:
    """The most `kind` anchors (bol/eol) one match path can pass; each becomes a NUL in the
    Hyperscan form, so a path with two (`^^a`) would need two separators."""
    k = n[0]
    if k == kind:
        return 1
    if k == "seq":
        return sum(max_anchors(c, kind) for c in n[1])
    if k == "alt":
        return max(max_anchors(b, kind) for b in n[1])
    if k == "grp":
        return max_anchors(n[3], kind)
    if k == "rep":
        inner = max_anchors(n[1], kind)
        return inner * (n[3] if n[3] is not None else 2) if inner else 0
    return 0


def min_len(n: tuple) -> int:
    k = n[0]
    if k in ("lit", "cls", "dot"):
        return 1
    if k == "seq":
        return sum(min_len(c) for c in n[1])
    if k == "alt":
        return min(min_len(b) for b in n[1])
    if k == "grp":
        return min_len(n[3])
    if k == "rep":
        return n[2] * min_len(n[1])
    return 0


def has_assertion(n: tuple) -> bool:
    k = n[0]
    if k in ("bol", "eol", "wb"):
        return True
    if k in ("seq", "alt"):
        return any(has_assertion(c) for c in n[1])
    if k == "grp":
        return has_assertion(n[3])
    if k == "rep":
        return has_assertion(n[1])
    return False


def strip_dotstar(tree: tuple) -> tuple:
    """Drop a leading/trailing `.*` (with its ^/$) from each branch: same truth for a search,
    and Hyperscan would otherwise report a match at every byte the `.*` can reach."""
    branches = []
    for seq in tree[1]:
        items = list(seq[1])
        star = lambda x: x[0] == "rep" and x[1] == ("dot",) and x[2] == 0 and x[3] is None
        if items[:1] and star(items[0]):
            items = items[1:]
        elif items[:1] == [("bol",)] and items[1:2] and star(items[1]):
            items = items[2:]
        if items and star(items[-1]):
            items = items[:-1]
        elif items[-1:] == [("eol",)] and len(items) >= 2 and star(items[-2]):
            items = items[:-2]
        branches.append(("seq", items))
    return ("alt", branches)


def required_literal(tree: tuple, ci: bool) -> str:
    """The longest run of literal characters every match must contain ('' if none found),
    for cheap substring pre-filters in front of a full regex evaluation."""
    if len(tree[1]) != 1:
        return ""
    best, run = "", []
    for n in tree[1][0][1] + [("end",)]:
        if n[0] == "lit" and not (ci and not chr(n[1]).isascii()):
            run.append(chr(n[1]))
            continue
        if n[0] in ("bol", "eol", "wb"):
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    return best
