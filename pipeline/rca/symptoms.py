"""Find when users were hurt: the window to ask the ranking about.

An on-call engineer's question starts from a symptom ("checkout errors since 10:02"). This
finds one from what is stored: per front-door operation (root spans), error rate and slow
requests in short buckets, compared with that operation's typical bucket; the flagged
buckets of the most affected operation, joined across short gaps, make the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.rca.source import as_rows
from pipeline.store.queries.rca import ENTRY_BUCKETS

BUCKET_NS = 10 * 10**9


@dataclass(slots=True)
class Symptom:
    service: str
    operation: str
    from_ns: int
    to_ns: int
    what: str  # "errors" | "latency"
    baseline: float  # error rate, or p90 in ms
    observed: float

    def describe(self) -> str:
        if self.what == "errors":
            return (f"{self.operation} on {self.service}: errors {self.baseline:.1%} -> {self.observed:.1%}")
        return f"{self.operation} on {self.service}: p90 {self.baseline:.0f} ms -> {self.observed:.0f} ms"


def find_symptom(client, from_ns: int, to_ns: int, bucket_ns: int = BUCKET_NS) -> Symptom | None:
    """The strongest user-facing anomaly in [from_ns, to_ns), or None when every entry looks normal."""
    rows = as_rows(client).rows(ENTRY_BUCKETS, {"lo": from_ns, "hi": to_ns, "bucket": bucket_ns})
    series: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        series.setdefault((r["service"], r["name"]), []).append(r)
    best: tuple[float, Symptom] | None = None
    for (service, name), buckets in series.items():
        if len(buckets) < 6:
            continue
        n_all = sum(b["n"] for b in buckets)
        # Typical error rate: pooled over the calmer 60 % of buckets, so an incident that fills
        # a good part of a short run does not pass for normal.
        calm = sorted(buckets, key=lambda b: b["errors"] / b["n"])[:max(3, len(buckets) * 3 // 5)]
        rate = max(sum(b["errors"] for b in calm) / sum(b["n"] for b in calm), 0.5 / max(n_all, 1))
        p90 = _median([b["p90"] for b in buckets])
        flagged_err = [b for b in buckets if b["errors"] >= 2
                       and (b["errors"] - b["n"] * rate) / math.sqrt(b["n"] * rate + 1) >= 3]
        flagged_lat = [b for b in buckets if b["n"] >= 5 and b["p90"] >= 2 * p90 and b["p90"] - p90 >= 20e6]
        for what, flagged in (("errors", flagged_err), ("latency", flagged_lat)):
            span = _longest_run([b["b"] for b in flagged])
            if not span:
                continue
            lo_b, hi_b = span
            inside = [b for b in buckets if lo_b <= b["b"] <= hi_b]
            n_in = sum(b["n"] for b in inside)
            if what == "errors":
                observed = sum(b["errors"] for b in inside) / n_in
                strength = (observed - rate) * n_in
                base = rate
            else:
                observed = max(b["p90"] for b in inside) / 1e6
                base = p90 / 1e6
                strength = (observed / max(base, 1e-3)) * len(inside)
            sym = Symptom(service, name, lo_b * bucket_ns, (hi_b + 1) * bucket_ns, what, base, observed)
            if best is None or strength > best[0]:
                best = (strength, sym)
    return best[1] if best else None


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _longest_run(buckets: list[int], gap: int = 2) -> tuple[int, int] | None:
    """The longest stretch of flagged buckets, allowing gaps of up to `gap` unflagged ones."""
    if not buckets:
        return None
    runs, start, prev = [], buckets[0], buckets[0]
    for b in buckets[1:]:
        if b - prev > gap + 1:
            runs.append((start, prev))
            start = b
        prev = b
    runs.append((start, prev))
    return max(runs, key=lambda r: (r[1] - r[0], -r[0]))
