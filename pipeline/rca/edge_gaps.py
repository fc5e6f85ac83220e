"""Time on the wire of each call edge, from latency gauges measured at both ends.

A gauge carrying a peer attribute describes a call edge. Where the caller's view (a `client`
metric) and the callee's view (the same metric named `server`) of one edge both exist, their
difference per minute is the time the call spends between the two: network, queues, a
starved caller. A network delay is seen only by the caller, while the callee's own view stays
healthy; so the gap series, not the caller's latency, is compared with its baseline (an
earlier incident that slowed the callee raised both views and leaves the gap alone). A
slowed edge is charged by pipeline.rca.blame (usually to the callee).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.rca.blame import blame
from pipeline.rca.pod_metrics import Z_CAP, robust_scale, strength

_MIN_Z = 3.0  # the gap is a difference of two medians of readings: less noisy than either
_MIN_REL = 0.5  # the rise against the caller's usual latency on the edge
_MIN_BASELINE = 5  # readings: a gap is a small difference of two larger numbers, so a thin
# baseline cannot say what is usual for it


@dataclass(slots=True)
class EdgeGap:
    """One call edge whose gap grew."""

    caller: str
    callee: str
    caller_pod: str
    metric: str
    rise: float  # in the metric's unit
    rel: float  # rise over the caller-side baseline median
    z: float
    share: float = 1.0  # of the blamed service's measured edges, the part that slowed
    size: float = 1.0  # its rise against the largest rise of any slowed edge (same metric)


def edge_gaps(rows: list[dict]) -> dict[str, list[EdgeGap]]:
    """Per blamed service: call edges whose gap rose beyond its baseline, strongest first."""
    measured, slowed = set(), {}
    for r in rows:
        if r["n_b"] < _MIN_BASELINE or len(r["q_b"]) != 3:
            continue
        edge = (r["caller"], r["callee"])
        measured.add(edge)
        if not r["n_w"]:
            continue
        q10, q50, q90 = r["q_b"]
        rise = r["med_w"] - q50
        z = min(Z_CAP, rise / robust_scale(q10, q50, q90, r["n_b"]))
        rel = rise / max(abs(r["client_b"]), 1e-9)
        # beyond the gap's own 90th percentile too: a link often slow needs more than a shift
        if z >= _MIN_Z and rel >= _MIN_REL and r["med_w"] > q90:
            g = EdgeGap(r["caller"], r["callee"], r["caller_pod"], r["metric"], rise, rel, z)
            if edge not in slowed or slowed[edge].z < z:
                slowed[edge] = g
    largest: dict[str, float] = {}
    for g in slowed.values():
        largest[g.metric] = max(largest.get(g.metric, 0.0), g.rise)
    out: dict[str, list[EdgeGap]] = {}
    for edge, (blamed, share) in blame(slowed, measured).items():
        g = slowed[edge]
        g.share, g.size = share, g.rise / largest[g.metric]
        out.setdefault(blamed, []).append(g)
    for lst in out.values():
        lst.sort(key=lambda g: -gap_strength(g))
    return out


def gap_strength(g: EdgeGap) -> float:
    """0..1: how surely a slowed edge puts its blamed service at fault."""
    return strength(g.z, _MIN_Z) * min(1.0, g.rel) * (0.5 + 0.5 * g.share) * (0.5 + 0.5 * g.size)
