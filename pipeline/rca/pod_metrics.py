"""Robust per-pod and per-edge readings of gauge metrics, as real collectors deliver them.

Real metrics come one reading a minute per pod, with junk series (always 0, missing when the
pod was idle, histogram estimates that jump to a bucket bound under overload), and the 30
minutes before a window may hold other incidents. So every series is compared with its own
baseline by quantiles, never by mean and standard deviation: the window's median against the
baseline's median, in units of the baseline's lower spread (incidents in the baseline push
values up, rarely down, so the spread below the median is the honest one). Missing readings
are missing (non-finite values are skipped), never zero.

Two readings come out of it:

- **pod pressure**: a resource gauge (CPU, memory, threads, GC, pools...) of a pod that sits
  far above its own baseline, judged also against the baseline's maximum (saturation is
  being where the pod has not been before);
- **edge gap**: a metric carrying a peer attribute describes a call edge; where the caller's
  view (a `client` metric) and the callee's view (the matching `server` metric) of the same
  edge both exist, the caller's rise that the callee's own view does not show is time on the
  wire or in queues, and is charged to the callee (a network delay is seen by the caller but
  is the callee's fault).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.rca.blame import blame
from pipeline.rca.window_sql import FINAL_SETTINGS

# The pod that reported a series: its instance id, else the Kubernetes pod name.
SERIES = """
SELECT service, if(instance != '', instance, resource['k8s.pod.name']) AS pod, name,
       coalesce(nullIf(attributes['peer.service'], ''), nullIf(attributes['server.address'], ''),
                nullIf(attributes['net.peer.name'], ''), '') AS peer,
       countIf(time_ns >= {wf:Int64}) AS n_w, countIf(time_ns < {bt:Int64}) AS n_b,
       quantilesExactIf(0.1, 0.5, 0.9)(value, time_ns < {bt:Int64}) AS q_b,
       maxIf(value, time_ns < {bt:Int64}) AS max_b,
       quantileExactIf(0.5)(value, time_ns >= {wf:Int64}) AS med_w,
       maxIf(value, time_ns >= {wf:Int64}) AS max_w
FROM metrics FINAL
WHERE time_ns >= {bf:Int64} AND time_ns < {wt:Int64} AND type = 'gauge' AND isFinite(value)
      AND NOT (time_ns >= {bt:Int64} AND time_ns < {wf:Int64}) AND service != ''
GROUP BY service, pod, name, peer
""" + FINAL_SETTINGS

# Names of gauges that measure a resource the pod uses up (general words, any naming scheme).
_RESOURCE_WORDS = ("cpu", "memory", "mem.", "heap", "gc", "thread", "pool", "fd", "file_descriptor", "disk")
# Gauges of the machine the pod runs on move for every neighbour: not the pod's own pressure.
_SHARED_PREFIXES = ("node.", "host.", "system.", "k8s.node.", "machine.")
_MIN_BASELINE_READINGS = 2
_FEW_READINGS = 5  # below this the spread is unknown: only a large relative change counts
_Z_CAP = 30.0
_GAP_MIN_Z = 3.0  # the gap is a difference of two views, each already a median of its readings


@dataclass(slots=True)
class SeriesShift:
    """One series' window against its baseline, in robust units."""

    service: str
    pod: str
    name: str
    peer: str
    z: float  # window median over baseline median, in baseline lower-spread units
    scale: float
    med_w: float
    med_b: float
    max_w: float
    max_b: float
    n_w: int
    n_b: int


def is_resource(name: str) -> bool:
    """A gauge of something the pod itself consumes (and can run out of)."""
    low = name.lower()
    return not low.startswith(_SHARED_PREFIXES) and any(w in low for w in _RESOURCE_WORDS)


def shift_of(row: dict) -> SeriesShift | None:
    """Robust shift of one SERIES row; None when the series is too thin to judge."""
    if row["n_w"] < 1 or row["n_b"] < _MIN_BASELINE_READINGS or len(row["q_b"]) != 3:
        return None
    q10, q50, q90 = row["q_b"]
    med_w = row["med_w"]
    # the lower spread (incidents in the baseline inflate only the upper one), floored so a
    # flat or all-zero series does not make a rounding error look like an incident
    rel_floor = 0.05 if row["n_b"] >= _FEW_READINGS else 0.25
    scale = max((q50 - q10) / 1.2816, 0.1 * (q90 - q10) / 2.5631, rel_floor * abs(q50), 1e-9)
    z = (med_w - q50) / scale
    if abs(q50) < 1e-12 and q90 - q10 < 1e-12 and abs(med_w) < 1e-12:
        z = 0.0  # a series that is always zero says nothing
    return SeriesShift(row["service"], row["pod"], row["name"], row["peer"], max(-_Z_CAP, min(_Z_CAP, z)), scale,
                       med_w, q50, row["max_w"], row["max_b"], row["n_w"], row["n_b"])


def pod_pressure(shifts: list[SeriesShift]) -> dict[str, list[SeriesShift]]:
    """Per service: resource gauges of its pods far above their baseline, strongest first.

    A rise counts only when the window's median also passes the baseline's maximum or its
    90th percentile by a clear margin (saturation: where the pod has not been in the last
    half hour, or only during an earlier incident), so slow drift does not count.
    """
    out: dict[str, list[SeriesShift]] = {}
    for s in shifts:
        if s.peer or not is_resource(s.name) or s.z < 4:
            continue
        if s.med_w <= s.med_b * 1.2 and s.med_w - s.med_b < 1e-9:
            continue
        out.setdefault(s.service, []).append(s)
    for lst in out.values():
        lst.sort(key=lambda s: -s.z)
    return out


@dataclass(slots=True)
class EdgeGap:
    """The caller-side rise of one call edge that the callee-side view does not show."""

    caller: str
    callee: str
    caller_pod: str
    metric: str
    rise: float  # in the metric's unit
    rel: float  # rise over the caller-side baseline median
    z: float
    share: float = 1.0  # of the blamed service's measured edges, the part that slowed like this
    size: float = 1.0  # its rise against the largest rise of any slowed edge (same metric)


def _edge_of(s: SeriesShift) -> tuple[str, str] | None:
    """(caller, callee) of a series with a peer attribute, from which side measured it."""
    low = s.name.lower()
    if "client" in low:
        return s.service, s.peer
    if "server" in low:
        return s.peer, s.service
    return None


def edge_gaps(shifts: list[SeriesShift]) -> dict[str, list[EdgeGap]]:
    """Per blamed service (pipeline.rca.blame): call edges whose caller-side latency rose
    beyond the callee-side rise."""
    server = {(s.service, s.peer, s.name.replace("server", "client")): s
              for s in shifts if s.peer and "server" in s.name}
    measured = {e for e in map(_edge_of, (s for s in shifts if s.peer and s.peer != s.service)) if e}
    slowed: dict[tuple[str, str], EdgeGap] = {}
    for c in shifts:
        if not c.peer or "client" not in c.name or c.peer == c.service:
            continue
        srv = server.get((c.peer, c.service, c.name))
        if srv is None:
            continue
        rise = (c.med_w - c.med_b) - max(srv.med_w - srv.med_b, 0.0)
        z = min(_Z_CAP, rise / c.scale)
        rel = rise / max(abs(c.med_b), 1e-9)
        if z >= _GAP_MIN_Z and rel >= 0.5:
            g = EdgeGap(c.service, c.peer, c.pod, c.name, rise, rel, z)
            if (c.service, c.peer) not in slowed or slowed[(c.service, c.peer)].z < z:
                slowed[(c.service, c.peer)] = g
    largest: dict[str, float] = {}
    for g in slowed.values():
        largest[g.metric] = max(largest.get(g.metric, 0.0), g.rise)
    out: dict[str, list[EdgeGap]] = {}
    for edge, (blamed, share) in blame(slowed, measured).items():
        g = slowed[edge]
        out.setdefault(blamed, []).append(EdgeGap(g.caller, g.callee, g.caller_pod, g.metric, g.rise, g.rel, g.z,
                                                  share, g.rise / largest[g.metric]))
    for lst in out.values():
        lst.sort(key=lambda g: -gap_strength(g))
    return out


def gap_strength(g: EdgeGap) -> float:
    """0..1: how surely a slowed edge puts its blamed service at fault."""
    return strength(g.z, _GAP_MIN_Z) * min(1.0, g.rel) * (0.5 + 0.5 * g.share) * (0.5 + 0.5 * g.size)


def strength(z: float, z_min: float = 4.0) -> float:
    """0..1 from a robust z: nothing below z_min, near 1 by z_min + 12."""
    return 0.0 if z < z_min else 1 - math.exp(-(z - z_min + 1) / 4)
