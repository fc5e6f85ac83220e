"""Per-host clock offsets, estimated online from cross-host parent/child span pairs.

A synchronous child runs inside its parent, so each cross-host pair bounds the offset between
the two hosts' clocks; like Jaeger's adjuster we take the middle of that range, splitting the
parent's slack evenly as network latency on the way in and out. One pair is noisy; the median
of many pairs per host edge is robust to a minority of async or late-running children and to
jittery hosts. Edge medians are then solved into per-host offsets and anchored so that the
median host of each connected group is 0 (most clocks are right; groups of fewer than three
hosts are left out), then bounded by max_skew.

Determinism: samples are filed by event-time epoch in order-independent bottom-k sketches
(keyed by a CRC-32 of the child span id, stable across processes, so duplicates collapse
and two workers' sketches merge exactly). The table applied to a trace of epoch `e` uses
only epochs older than `e - lag`, where `lag` covers the lateness bound and twice max_skew:
every span that old has either arrived or been rejected as too late by the time such a
trace completes. So the same input in any order within the lateness bound gives the same
tables, hence the same rows. Right after a cold start no table has learnt enough yet:
multi-host traces are then emitted with offsets from their own pairs (resolved outward from
the root span's host) and re-emitted once the first mature table is final (`settle`).
Hosts a table does not know are always resolved from the trace's own pairs, outward from
the hosts it does know.

Offsets are host clock minus reference clock: corrected time = raw time - offset.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import chain
from operator import add, mul
from zlib import crc32

from pipeline.correlate.engine_config import CorrelateConfig
from pipeline.model import Span

# Producer/consumer children (and children of producers) run asynchronously: no bound.
_ASYNC_KINDS = (4, 5)

Edge = tuple[str, str]  # (parent host, child host)
# A connected group of hosts needs this many members before "its median clock is right" is a
# fair anchor; smaller groups stay out of the table.
MIN_GROUP = 3


def pair_delta(parent: Span, child: Span) -> int | None:
    """Offset of the child's host relative to the parent's, or None if the pair says nothing.

    None for same-host pairs, async pairs, children longer than their parent (they cannot
    fit inside it, so they are not synchronous calls) and unknown hosts.
    """
    if not parent.host or not child.host or parent.host == child.host:
        return None
    if child.kind in _ASYNC_KINDS or parent.kind == 4:
        return None
    if child.end_ns - child.start_ns > parent.end_ns - parent.start_ns:
        return None
    return ((child.start_ns - parent.start_ns) + (child.end_ns - parent.end_ns)) // 2


def _median(values: list[int]) -> int:
    values = sorted(values)
    return values[(len(values) - 1) // 2]


class SkewEstimator:
    """Collects pair samples and serves deterministic per-epoch offset tables."""

    def __init__(self, config: CorrelateConfig) -> None:
        self._cfg = config
        self._epoch = config.skew_epoch_ns
        self.lag_epochs = math.ceil((config.max_lateness_ns + 2 * config.max_skew_ns) / self._epoch) + 1
        # How far past a trace's epoch `settle` looks for a mature table: enough for the
        # first samples of a fresh stream to turn into one.
        self.search_epochs = self.lag_epochs + 2 * config.skew_mature_epochs
        self._maturity: dict[int, bool] = {}  # final epochs only: is the table mature
        # epoch bucket -> edge -> {child hash: delta}
        self._buckets: dict[int, dict[Edge, dict[int, int]]] = defaultdict(dict)
        self._tables: dict[int, dict[str, int]] = {}
        self._provisional: dict[int, dict[str, int]] = {}  # non-final tables, until samples change
        self._latest_epoch = -1
        self._latest: dict[str, int] = {}
        self._changed: set[tuple[int, Edge]] = set()  # sketches grown here since take_changed

    # -- samples -------------------------------------------------------------------------

    def add_pair(self, parent: Span, child: Span) -> bool:
        """File one parent/child pair; False (and nothing filed) unless it is a usable
        cross-host pair."""
        delta = pair_delta(parent, child)
        if delta is None or abs(delta) > 2 * self._cfg.max_skew_ns:
            return False
        bucket = max(parent.end_ns, child.end_ns) // self._epoch
        edge = (parent.host, child.host)
        sketch = self._buckets[bucket].get(edge)
        if sketch is None:
            sketch = self._buckets[bucket][edge] = {}
        sketch[crc32(child.span_id.encode())] = delta
        if len(sketch) > 2 * self._cfg.skew_samples_per_bucket:
            self._trim(sketch)
        self._changed.add((bucket, edge))
        if self._provisional:
            self._provisional.clear()
        return True

    def _trim(self, sketch: dict[int, int]) -> None:
        keep = sorted(sketch)[: self._cfg.skew_samples_per_bucket]
        kept = {h: sketch[h] for h in keep}
        sketch.clear()
        sketch.update(kept)

    def export_samples(self) -> dict[int, dict[Edge, dict[int, int]]]:
        """The sketches, for another worker's `merge_samples` (bottom-k sketches merge exactly)."""
        return {b: {e: dict(s) for e, s in edges.items()} for b, edges in self._buckets.items()}

    def take_changed(self) -> dict[int, dict[Edge, dict[int, int]]]:
        """The sketches this estimator's own pairs grew since the last call, for peers'
        `merge_samples` (whole sketches: merging is idempotent, so resending is harmless)."""
        out: dict[int, dict[Edge, dict[int, int]]] = {}
        for b, edge in self._changed:
            sketch = self._buckets.get(b, {}).get(edge)
            if sketch:
                out.setdefault(b, {})[edge] = dict(sketch)
        self._changed.clear()
        return out

    def merge_samples(self, samples: dict[int, dict[Edge, dict[int, int]]]) -> None:
        """Fold in another worker's sketches so both serve identical tables."""
        for b, edges in samples.items():
            for edge, sketch in edges.items():
                mine = self._buckets[b].setdefault(edge, {})
                mine.update(sketch)
                if len(mine) > 2 * self._cfg.skew_samples_per_bucket:
                    self._trim(mine)
        self._provisional.clear()
        self._maturity.clear()
        lowest = min(samples, default=None)
        if lowest is not None:
            self._tables = {e: t for e, t in self._tables.items() if e - self.lag_epochs <= lowest}

    def prune(self, watermark_ns: int) -> None:
        """Drop sketches no future table can use (older than any trace still amendable)."""
        oldest_anchor = watermark_ns - self._cfg.max_lateness_ns - 2 * self._cfg.max_skew_ns
        floor = oldest_anchor // self._epoch - self.lag_epochs - self._cfg.skew_history_epochs - 1
        for b in [b for b in self._buckets if b < floor]:
            del self._buckets[b]
        for e in [e for e in self._tables if e < floor]:
            del self._tables[e]
        for e in [e for e in self._maturity if e < floor]:
            del self._maturity[e]
        self._provisional.clear()

    # -- tables --------------------------------------------------------------------------

    def epoch_of(self, time_ns: int) -> int:
        return time_ns // self._epoch

    def is_final(self, epoch: int, watermark_ns: int) -> bool:
        """Whether every sample the table for `epoch` uses can no longer change."""
        return epoch <= self.last_final_epoch(watermark_ns)

    def last_final_epoch(self, watermark_ns: int) -> int:
        """The newest epoch whose table is final at this watermark."""
        return (watermark_ns - self._cfg.max_lateness_ns - self._cfg.max_skew_ns) // self._epoch + self.lag_epochs

    def table(self, epoch: int, final: bool) -> dict[str, int]:
        """Host offsets for traces anchored in `epoch`; cached once its samples are final."""
        cached = self._tables.get(epoch)
        if cached is None and not final:
            cached = self._provisional.get(epoch)
        if cached is not None:
            return cached
        hi = epoch - self.lag_epochs
        lo = hi - self._cfg.skew_history_epochs
        # edge -> each bucket's kept samples (the k lowest hashes), concatenated once per edge
        per_edge: dict[Edge, list] = {}
        k = self._cfg.skew_samples_per_bucket
        buckets = self._buckets
        for b in range(lo, hi):
            edges = buckets.get(b)
            if not edges:
                continue
            for edge, sketch in edges.items():
                kept = sketch.values() if len(sketch) <= k else [sketch[h] for h in sorted(sketch)[:k]]
                parts = per_edge.get(edge)
                if parts is None:
                    per_edge[edge] = [kept]
                else:
                    parts.append(kept)
        medians = {}
        for edge, parts in per_edge.items():
            v = sorted(chain.from_iterable(parts))
            if len(v) >= self._cfg.skew_min_samples:
                medians[edge] = (v[(len(v) - 1) // 2], len(v))
        table = solve_offsets(medians, self._cfg.max_skew_ns)
        if final:
            self._tables[epoch] = table
            if epoch > self._latest_epoch:
                self._latest_epoch, self._latest = epoch, table
        else:
            self._provisional[epoch] = table
        return table

    def settle(self, epoch: int, paired: bool, watermark_ns: int | None,
               first: int | None = None) -> tuple[dict[str, int] | None, int]:
        """The table for a trace anchored in `epoch`, once it is decided.

        A trace without cross-host pairs of its own (`paired` False) takes its epoch's table.
        Otherwise it takes the first *mature* table from its epoch on (one learnt from at least
        `skew_mature_epochs` epochs that had pair samples) -- normally its own epoch's; right
        after a cold start or a long pause in traffic, a later one, so those traces get offsets
        learnt from the data that follows them rather than from a handful of pairs. {} if no
        table within `search_epochs` is mature. Returns (None, next epoch to probe) while a
        needed table is not final yet; `watermark_ns` None means all input is in.
        """
        e = epoch if first is None else first
        if not paired:
            if watermark_ns is not None and not self.is_final(e, watermark_ns):
                return None, e
            return self.table(e, True), e
        while e <= epoch + self.search_epochs:
            if watermark_ns is not None and not self.is_final(e, watermark_ns):
                return None, e
            if self._mature(e):
                return self.table(e, True), e
            e += 1
        return {}, e

    def _mature(self, epoch: int) -> bool:
        got = self._maturity.get(epoch)
        if got is None:
            hi = epoch - self.lag_epochs
            need = min(self._cfg.skew_mature_epochs, self._cfg.skew_history_epochs)
            got = sum(1 for b in range(hi - self._cfg.skew_history_epochs, hi) if self._buckets.get(b)) >= need
            self._maturity[epoch] = got
        return got

    def current_offsets(self) -> dict[str, int]:
        """The newest final table: what `telecorr skew` shows and the watermark corrects by."""
        return dict(self._latest)

    def trace_offsets(self, spans: dict[str, Span], table: dict[str, int]) -> dict[str, int]:
        """Offsets for the trace's hosts the table does not know (empty when it knows all):
        from the trace's own cross-host pairs, resolved outward from known hosts (or from the
        root span's host at 0 when none is known); 0 where no pair reaches."""
        for s in spans.values():
            if s.host not in table:
                break
        else:
            return {}
        hosts = {s.host for s in spans.values()}
        if len(hosts) == 1:
            return {hosts.pop(): 0}
        out = {h: table[h] for h in hosts if h in table}
        local: dict[Edge, list[int]] = defaultdict(list)
        for s in spans.values():
            p = spans.get(s.parent_span_id)
            if p is not None:
                d = pair_delta(p, s)
                if d is not None:
                    local[(p.host, s.host)].append(d)
        if not out:
            roots = [s for s in spans.values() if s.parent_span_id not in spans]
            root = min(roots or spans.values(), key=lambda s: (s.start_ns, s.span_id))
            out[root.host] = 0
        edges = sorted((e, _median(v)) for e, v in local.items())
        bound = self._cfg.max_skew_ns
        changed = True
        while changed:
            changed = False
            for (ph, ch), d in edges:
                if ph in out and ch not in out:
                    out[ch] = max(-bound, min(bound, out[ph] + d))
                    changed = True
                elif ch in out and ph not in out:
                    out[ph] = max(-bound, min(bound, out[ch] - d))
                    changed = True
        return {h: out.get(h, 0) for h in hosts if h not in table}


def solve_offsets(edges: dict[Edge, tuple[int, int]], max_skew_ns: int) -> dict[str, int]:
    """Per-host offsets from edge constraints off(child) - off(parent) = delta.

    Weighted least squares by Gauss-Seidel from a spanning-tree start (cycles of edges
    disagree a little; this averages them), then each connected group is shifted so its
    median host sits at 0, and every offset is bounded by max_skew_ns.
    """
    adj: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for (p, c), (d, n) in sorted(edges.items()):
        adj[c].append((p, float(d), n))   # off(c) = off(p) + d
        adj[p].append((c, -float(d), n))  # off(p) = off(c) - d
    out: dict[str, int] = {}
    seen: set[str] = set()
    for start in sorted(adj):
        if start in seen:
            continue
        comp, off = [start], {start: 0.0}
        seen.add(start)
        i = 0
        while i < len(comp):
            h = comp[i]
            i += 1
            for other, d, _ in adj[h]:
                if other not in seen:
                    seen.add(other)
                    off[other] = off[h] - d
                    comp.append(other)
        comp.sort()
        # Each sweep sets off[h] = sum((off[o] + d) * n) / sum(n) over h's edges, in that
        # order; the edges are unpacked once so a sweep runs in C.
        rows = [(h, [o for o, _, _ in adj[h]], [d for _, d, _ in adj[h]], [n for _, _, n in adj[h]])
                for h in comp]
        rows = [(h, others, ds, ns, sum(ns)) for h, others, ds, ns in rows]
        get = off.__getitem__
        for _ in range(20):
            for h, others, ds, ns, tw in rows:
                off[h] = sum(map(mul, map(add, map(get, others), ds), ns)) / tw
        if len(comp) < MIN_GROUP:
            continue  # too few clocks to tell which are right: left to per-trace resolution
        vals = sorted(off[h] for h in comp)
        anchor = vals[(len(vals) - 1) // 2]
        for h in comp:
            out[h] = max(-max_skew_ns, min(max_skew_ns, round(off[h] - anchor)))
    return out
