"""Rules compiled to one Hyperscan database per field, matched over batches of logs.

A batch is matched with a few Hyperscan calls per field (one per ~32 KB): its values are
joined with NUL separators (regex.py's dialect rewrite keeps patterns inside one value; a
batch read as a raw block brings its body already joined, pipeline/ingest/logs/textblock.py), each
hit's end offset is mapped back to its line with numpy, and Python works per hit, not per line × rule:

- rules that are a leaf or an OR of leaves come straight from the (line, leaf) hits (with
  no expansion at all when each rule is its own single leaf);
- other rules that cannot match without a leaf hit are evaluated only on lines where one
  of their leaves hit, over that line's set of hit leaves;
- rules that can match with no leaf hit (`NOT x`, `a OR NOT b`) are evaluated for the whole
  batch at once with numpy boolean arrays.

Leaves Hyperscan cannot take (anchors mid-pattern, NUL bytes, compile failures), numeric
comparisons and `field:*` are evaluated per value in Python (RE2 for regexes).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Sequence
from threading import Lock

import hyperscan
import numpy as np
import re2

from pipeline.column_batch import ColumnBatch
from pipeline.gcpause import gc_paused
from pipeline.ingest.logs.columns import Columns, as_columns
from pipeline.ingest.logs.textblock import buffer_of, scan_chunks
from pipeline.model import LogRecord
from pipeline.query.ast import And, AnyOf, Compare, Const, Match, Node, Not, Or
from pipeline.query.fields import column_of, match_regex
from pipeline.query.hsdb import HsField, nul_fallback_pred, regex_pred
from pipeline.query.optimize import optimize
from pipeline.query.parser import parse
from pipeline.query.regex import compile_regex
from pipeline.query.ruleplan import compile_expr, csr, eval_empty, expand, is_direct, sorted_unique
from pipeline.query.rulefile import Rule

_NUMBER = re2.compile(r"^-?[0-9]+(?:\.[0-9]+)?\z")
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_CACHE: dict[str, RuleMatcher] = {}
_CACHE_LOCK = Lock()
_CACHE_MAX = 16

def rules_hash(rules: Sequence[Rule]) -> str:
    """A stable hash of a rule set (order-independent): the compiled-matcher cache key."""
    h = hashlib.sha256()
    for r in sorted(rules, key=lambda r: r.id):
        for part in (r.id, r.query, r.severity, r.signal):
            h.update(part.encode("utf-8", "surrogatepass") + b"\x1f")
    return h.hexdigest()


def compile_rules(rules: Sequence[Rule]) -> RuleMatcher:
    """A matcher for the rule set, reused when the same set was compiled before."""
    key = rules_hash(rules)
    with _CACHE_LOCK:
        m = _CACHE.get(key)
    if m is None:
        m = RuleMatcher(rules)
        with _CACHE_LOCK:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = m
    return m


class RuleMatcher:
    """Matches batches of LogRecords against a compiled rule set (not thread-safe: one
    matcher per thread, as Hyperscan scratch space is reused between calls)."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = sorted(rules, key=lambda r: r.id)
        self.ids = [r.id for r in self.rules]
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("rule ids must be unique")
        self.hash = rules_hash(self.rules)
        self._single = np.empty(len(self.ids), dtype=object)  # (id,) per rule, for match_batch
        for i, rule_id in enumerate(self.ids):
            self._single[i] = (rule_id,)
        trees = [optimize(parse(r.query)) for r in self.rules]
        self._leaves: dict[Node, int] = {}
        for t in trees:
            self._collect(t)
        self._leaf_list = leaf_list = list(self._leaves)
        hs_patterns: dict[str, list[tuple[int, str]]] = {}
        py_preds: dict[int, list[tuple[str, Callable]]] = {}
        self._captures: dict[int, list[tuple[str | None, str, object]]] = {}  # (column or None, field, RE2)
        for idx, leaf in enumerate(leaf_list):
            for field, pred_or_pattern in self._leaf_parts(leaf):
                if isinstance(pred_or_pattern, str):
                    hs_patterns.setdefault(field, []).append((idx, pred_or_pattern))
                else:
                    py_preds.setdefault(idx, []).append((field, pred_or_pattern))
        self._fields = [HsField(f, pats) for f, pats in hs_patterns.items()]
        for fld in self._fields:
            # Patterns Hyperscan rejected fall back to RE2 on the same leaf.
            for idx, _ in fld.failed:
                leaf = leaf_list[idx]
                for m in (leaf.members if isinstance(leaf, AnyOf) else (leaf,)):
                    src, ci = match_regex(m)
                    py_preds.setdefault(idx, []).append((fld.name, regex_pred(compile_regex(src, ci), ci)))
        self._py = py_preds
        for fld in self._fields:
            fld.fallback = self._fallback_preds(fld)
        # Raw (line, rule) plans.
        self._nleaves = max(1, len(leaf_list))
        direct: list[list[int]] = [[] for _ in leaf_list]
        tree_of: list[list[int]] = [[] for _ in leaf_list]
        self._tree_fns: dict[int, Callable[[set], bool]] = {}
        self._always: list[tuple[int, Callable]] = []
        self._every: list[int] = []
        for r, t in enumerate(trees):
            if isinstance(t, Const):
                if t.value:
                    self._every.append(r)
                continue
            leaves = self._leaf_ids(t)
            if is_direct(t):
                for li in leaves:
                    direct[li].append(r)
            elif eval_empty(t):
                self._always.append((r, compile_expr("lambda A, C: " + self._np_expr(t), self.ids[r])))
            else:
                self._tree_fns[r] = compile_expr("lambda h: " + self._py_expr(t), self.ids[r])
                for li in leaves:
                    tree_of[li].append(r)
        self._direct = csr(direct)
        self._tree = csr(tree_of)
        self._rule_of_leaf = self._one_to_one(direct)
        self._capture_plan(trees)

    # -- compilation helpers -------------------------------------------------------------

    def _one_to_one(self, direct: list[list[int]]) -> np.ndarray | None:
        """leaf -> rule (-1 for none) when every rule is an OR of leaves, no two rules share
        a leaf and rule order follows leaf order: then sorted unique (line, leaf) hits map
        straight to sorted (line, rule) pairs (a rule hit by two of its leaves on one line
        twice in a row), with no expansion or second sort."""
        if self._tree_fns or self._always or self._every:
            return None
        rule_of = np.full(self._nleaves, -1, dtype=np.int64)
        last = -1
        for leaf, rules in enumerate(direct):
            if len(rules) > 1 or any(r < last for r in rules):
                return None
            if rules:
                rule_of[leaf] = last = rules[0]
        return rule_of

    def _collect(self, node: Node) -> None:
        if isinstance(node, (Match, Compare, AnyOf)):
            self._leaves.setdefault(node, len(self._leaves))
        elif isinstance(node, Not):
            self._collect(node.item)
        elif isinstance(node, (And, Or)):
            for i in node.items:
                self._collect(i)

    def _leaf_ids(self, node: Node) -> list[int]:
        if isinstance(node, (Match, Compare, AnyOf)):
            return [self._leaves[node]]
        if isinstance(node, Not):
            return self._leaf_ids(node.item)
        if isinstance(node, (And, Or)):
            return sorted({i for c in node.items for i in self._leaf_ids(c)})
        return []

    def _py_expr(self, node: Node) -> str:
        if isinstance(node, (Match, Compare, AnyOf)):
            return f"({self._leaves[node]} in h)"
        if isinstance(node, Not):
            return f"(not {self._py_expr(node.item)})"
        if isinstance(node, Const):
            return str(node.value)
        joiner = " and " if isinstance(node, And) else " or "
        return "(" + joiner.join(self._py_expr(i) for i in node.items) + ")"

    def _np_expr(self, node: Node) -> str:
        if isinstance(node, (Match, Compare, AnyOf)):
            return f"A({self._leaves[node]})"
        if isinstance(node, Not):
            return f"(~{self._np_expr(node.item)})"
        if isinstance(node, Const):
            return f"C({node.value})"
        joiner = " & " if isinstance(node, And) else " | "
        return "(" + joiner.join(self._np_expr(i) for i in node.items) + ")"

    @staticmethod
    def _leaf_parts(leaf: Node):
        """(field, hyperscan pattern source | value predicate) pieces whose OR is the leaf."""
        if isinstance(leaf, Compare):
            if leaf.field == "level":
                op, x = _OPS[leaf.op], leaf.number
                yield "#severity_number", lambda v: op(v, x)
            else:
                op, x = _OPS[leaf.op], leaf.number
                yield leaf.field, lambda v: bool(v) and _NUMBER.search(v) is not None and op(float(v), x)
            return
        if isinstance(leaf, Match) and leaf.kind == "exists":
            col = column_of(leaf.field)
            yield ("#has:" + leaf.field if col is None else leaf.field), bool
            return
        for m in (leaf.members if isinstance(leaf, AnyOf) else (leaf,)):
            src, ci = match_regex(m)
            cr = compile_regex(src, ci)
            if cr.hs is not None:
                yield m.field, cr.hs
            else:
                yield m.field, regex_pred(cr, ci)

    def _capture_plan(self, trees: list[Node]) -> None:
        """Rules with named captures: which field value to run which RE2 pattern over."""
        for r, t in enumerate(trees):
            plan = []
            stack = [t]
            while stack:
                n = stack.pop()
                if isinstance(n, (And, Or)):
                    stack.extend(n.items)
                elif isinstance(n, Match) and n.kind == "regex":
                    cr = compile_regex(n.value, n.ci)
                    if cr.captures:
                        plan.append((column_of(n.field), n.field, re2.compile(cr.re2_captures)))
                elif isinstance(n, AnyOf):
                    stack.extend(n.members)
            if plan:
                self._captures[r] = plan

    # -- matching ----------------------------------------------------------------------

    def _values(self, field: str, cols: Columns, cache: dict) -> list:
        v = cache.get(field)
        if v is None:
            if field == "#severity_number":
                v = cols.severity_numbers()
            elif field.startswith("#has:"):
                v = cols.has_attribute(field[5:])
            else:
                col = column_of(field)
                v = cols.column(col) if col else cols.attribute(field)
            cache[field] = v
        return v

    def _hits(self, cols: Columns) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique (line, leaf) pairs where the leaf is true."""
        n = len(cols)
        L = self._nleaves
        keys: list[np.ndarray] = []
        if not n:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        cache: dict[str, list] = {}
        for fld in self._fields:
            if fld.db is None:
                continue
            buf, seps, nul = self._scan_input(fld.name, cols, cache)
            leaves, ends = scan_chunks(fld.db, fld.scratch, buf, seps)
            if len(leaves):
                lines = np.searchsorted(seps, ends - 1, side="left") - 1
                ok = lines >= 0
                if nul:
                    ok &= ~np.isin(lines, list(nul))  # their placeholder '' is not their value
                keys.extend(fld.leaf_keys(lines[ok], leaves[ok], L))
            if nul:
                keys.append(self._nul_fallback(fld, nul))
        blank: dict[int, bool] = {}  # by list identity: columns may share one list
        for leaf, preds in self._py.items():
            for field, pred in preds:
                vals = self._values(field, cols, cache)
                empty = blank.get(id(vals))
                if empty is None:
                    empty = blank[id(vals)] = not any(vals)
                if empty:
                    # All falsy is one value (attributes free text never sets): decide once.
                    if pred(vals[0]):
                        keys.append(np.arange(n, dtype=np.int64) * L + leaf)
                    continue
                idx = [i for i, v in enumerate(vals) if pred(v)]
                if idx:
                    keys.append(np.array(idx, dtype=np.int64) * L + leaf)
        uniq = sorted_unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
        return uniq // L, uniq % L

    def _scan_input(self, field: str, cols: Columns, cache: dict) -> tuple[bytes, np.ndarray, dict[int, str]]:
        """(the field's values joined by NUL with a NUL at each end, the separators' offsets,
        the values that hold a NUL themselves by line: those cannot be joined, so '' is
        scanned in their place and they are checked apart). A batch read as a block
        brings its body buffer ready-made."""
        col = column_of(field)
        ready = cols.scan_buffer(col) if col else None
        if ready is not None:
            return ready
        return buffer_of(self._values(field, cols, cache))

    def _fallback_preds(self, fld: HsField) -> list[tuple[int, Callable[[str], bool]]]:
        """RE2 predicates for a field's Hyperscan leaves, for values holding a NUL (those
        cannot be joined). Built with the matcher, as building them for 1,000+ rules costs
        ~20 ms."""
        out = []
        for leaf in fld.leaves:
            node = self._leaf_list[leaf]
            for m in (node.members if isinstance(node, AnyOf) else (node,)):
                if m.field == fld.name:
                    out.append((leaf, nul_fallback_pred(m)))
        return out

    def _nul_fallback(self, fld: HsField, nul: dict[int, str]) -> np.ndarray:
        """The field's leaves evaluated with RE2 on values that hold a NUL."""
        L = self._nleaves
        out = [i * L + leaf for leaf, pred in fld.fallback for i, v in nul.items() if pred(v)]
        return np.array(out, dtype=np.int64)

    def match_pairs(self, logs: Sequence[LogRecord] | Columns) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique (line index, rule index) arrays of every match in the batch (records
        or columns)."""
        cols = as_columns(logs)
        n = len(cols)
        R = max(1, len(self.rules))
        hl, hf = self._hits(cols)
        if self._rule_of_leaf is not None:
            rules = self._rule_of_leaf[hf]
            keep = rules >= 0
            hl, rules = hl[keep], rules[keep]
            if len(hl) > 1:
                new = np.concatenate(([True], (hl[1:] != hl[:-1]) | (rules[1:] != rules[:-1])))
                hl, rules = hl[new], rules[new]
            return hl, rules
        parts: list[np.ndarray] = []
        if len(hl):
            rl, rr = expand(hl, hf, *self._direct)
            parts.append(rl * R + rr)
            cl, cr = expand(hl, hf, *self._tree)
            if len(cl):
                cand = np.unique(cl * R + cr)
                hitsets: dict[int, set] = {}
                for line, leaf in zip(hl.tolist(), hf.tolist()):
                    s = hitsets.get(line)
                    if s is None:
                        hitsets[line] = s = set()
                    s.add(leaf)
                fns = self._tree_fns
                ok = [k for k in cand.tolist() if fns[k % R](hitsets[k // R])]
                parts.append(np.array(ok, dtype=np.int64))
        if self._always:
            arrays: dict[int, np.ndarray] = {}

            def A(leaf: int) -> np.ndarray:
                a = arrays.get(leaf)
                if a is None:
                    a = np.zeros(n, dtype=bool)
                    a[hl[hf == leaf]] = True
                    arrays[leaf] = a
                return a

            def C(value: bool) -> np.ndarray:
                return np.full(n, value, dtype=bool)

            for r, fn in self._always:
                parts.append(np.flatnonzero(fn(A, C)).astype(np.int64) * R + r)
        for r in self._every:
            parts.append(np.arange(n, dtype=np.int64) * R + r)
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        keys = np.unique(np.concatenate(parts))
        return keys // R, keys % R

    def match_batch(self, logs: Sequence[LogRecord] | Columns) -> list[tuple[str, ...]]:
        """For each record, the sorted ids of the rules it matches. Tuples, so every record
        that matches nothing can share the one empty tuple: most lines match no rule, and a
        fresh list per line cost more than the rest of matching outside Hyperscan."""
        lines, rules = self.match_pairs(logs)
        if not len(lines):
            return [()] * len(logs)
        # One shared 1-tuple per rule placed with numpy: no tuple per line (allocating them
        # also drove the garbage collector over every live record).
        out = np.empty(len(logs), dtype=object)
        out.fill(())
        first = np.concatenate(([True], lines[1:] != lines[:-1]))
        runs = np.flatnonzero(first)
        alone = np.diff(np.append(runs, len(lines))) == 1
        out[lines[runs[alone]]] = self._single[rules[runs[alone]]]
        if not alone.all():
            ids, rl = self.ids, rules.tolist()
            ends = np.append(runs, len(lines))[1:]
            for line, a, b in zip(lines[runs[~alone]].tolist(), runs[~alone].tolist(), ends[~alone].tolist()):
                out[line] = tuple([ids[r] for r in rl[a:b]])
        return out.tolist()

    def prepare(self, cols: Columns) -> None:
        """Derive now every column this rule set reads (a lazy batch keeps them), so that
        parsing can be timed apart from matching."""
        cache: dict[str, list] = {}
        for fld in self._fields:
            self._scan_input(fld.name, cols, cache)
        for preds in self._py.values():
            for field, _ in preds:
                self._values(field, cols, cache)

    def hs_database(self, field: str) -> tuple[hyperscan.Database, hyperscan.Scratch]:
        """The compiled Hyperscan database of one canonical field and its scratch (for
        benchmarks that time the engine alone)."""
        for fld in self._fields:
            if fld.name == field and fld.db is not None:
                return fld.db, fld.scratch
        raise KeyError(field)

    def tag(self, logs: list[LogRecord] | ColumnBatch) -> None:
        """Set each log's `rules` (the column of a ColumnBatch, or each record's), and add
        named regex captures of matched rules as attributes (values the log already has win)."""
        lines, rules = self.match_pairs(logs)
        with gc_paused():
            tagged: list[list[str]] = [[] for _ in range(len(logs))]
        ids = self.ids
        caps = self._captures
        cols = as_columns(logs)
        attrs: list[dict[str, str]] | None = None
        values: dict[str, list] = {}
        for line, r in zip(lines.tolist(), rules.tolist()):
            tagged[line].append(ids[r])
            plan = caps.get(r)
            if plan:
                if attrs is None:
                    attrs = cols.attribute_dicts()
                rec_attrs = attrs[line]
                for col, field, rx in plan:
                    if col:
                        text = (values[col] if col in values else values.setdefault(col, cols.column(col)))[line]
                    else:  # read now: an earlier capture of this log may have set it
                        text = rec_attrs.get(field, "")
                    m = rx.search(text)
                    if m:
                        for name, value in m.groupdict().items():
                            if value is not None:
                                rec_attrs.setdefault(name, value)
        if type(logs) is ColumnBatch:
            logs.cols["rules"] = tagged
        else:
            for rec, found in zip(logs, tagged):
                rec.rules = found
