"""Robust per-pod and per-edge readings of gauge metrics, as real collectors deliver them.

Real metrics come one reading a minute per pod, with junk series (always 0, missing when the
pod was idle, histogram estimates that jump to a bucket bound under overload), and the 30
minutes before a window may hold other incidents. So every series is compared with its own
baseline by quantiles, never by mean and standard deviation: the window's median against the
baseline's median, in units of the baseline's lower spread (incidents in the baseline push
values up, rarely down, so the spread below the median is the honest one). Missing readings
are missing (non-finite values are skipped), never zero.

What comes out is **pod pressure**: a resource gauge (CPU, memory, threads, GC, pools...)
of a pod that sits far above its own baseline. Edge metrics (a peer attribute) are read by
pipeline.rca.edge_gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Names of gauges that measure a resource the pod uses up (general words, any naming scheme).
_RESOURCE_WORDS = ("cpu", "memory", "mem.", "heap", "gc", "thread", "pool", "fd", "file_descriptor", "disk")
# Names of gauges that follow the work a pod is given (its load, not a resource it runs out of).
_LOAD_WORDS = ("workload", "request", "syscall", "network", "receive", "transmit", "ops", "throughput", "cpu")
# Gauges of the machine the pod runs on move for every neighbour: not the pod's own pressure.
_SHARED_PREFIXES = ("node.", "host.", "system.", "k8s.node.", "machine.")
LATE_NS = 60 * 10**9  # how far past the window a reading may be stamped and still describe it
COARSE_NS = 30 * 10**9  # readings this far apart or more are coarse
_MIN_BASELINE_READINGS = 2
_FEW_READINGS = 5  # below this the spread is unknown: only a large relative change counts
Z_CAP = 30.0


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
    p90_b: float
    max_w: float
    max_b: float
    n_w: int
    n_b: int


def is_resource(name: str) -> bool:
    """A gauge of something the pod itself consumes (and can run out of)."""
    low = name.lower()
    return not low.startswith(_SHARED_PREFIXES) and any(w in low for w in _RESOURCE_WORDS)


def robust_scale(q10: float, q50: float, q90: float, n_b: int) -> float:
    """A baseline's spread from its quantiles: the lower spread (incidents in the baseline
    inflate only the upper one), floored so that a flat or all-zero series does not make a
    rounding error look like an incident, and wider when few readings were seen."""
    rel_floor = 0.05 if n_b >= _FEW_READINGS else 0.25
    return max((q50 - q10) / 1.2816, 0.1 * (q90 - q10) / 2.5631, rel_floor * abs(q50), 1e-9)


def shift_of(row: dict) -> SeriesShift | None:
    """Robust shift of one POD_SERIES row (pipeline.store.queries.gauges); None when the series
    is too thin to judge."""
    if row["n_w"] < 1 or row["n_b"] < _MIN_BASELINE_READINGS or len(row["q_b"]) != 3:
        return None
    q10, q50, q90 = row["q_b"]
    med_w = row["med_late"] if row["step"] >= COARSE_NS else row["med_w"]
    scale = robust_scale(q10, q50, q90, row["n_b"])
    z = (med_w - q50) / scale
    if abs(q50) < 1e-12 and q90 - q10 < 1e-12 and abs(med_w) < 1e-12:
        z = 0.0  # a series that is always zero says nothing
    return SeriesShift(row["service"], row["pod"], row["name"], row["peer"], max(-Z_CAP, min(Z_CAP, z)), scale,
                       med_w, q50, q90, row["max_w"], row["max_b"], row["n_w"], row["n_b"])


def pod_pressure(shifts: list[SeriesShift]) -> dict[str, list[SeriesShift]]:
    """Per service: resource gauges of its pods far above their baseline, strongest first.

    A rise counts when it is large in robust units (z >= 4), at least a fifth over the
    baseline median (not its maximum or upper percentiles: the same pod's earlier incident may
    sit in the baseline), and not a blip on an idle pod: the window's level must reach a tenth of the same gauge's
    typical level across all pods (a pod going from 0.05 to 0.1 millicores is not pressed).
    """
    levels: dict[str, list[float]] = {}
    for s in shifts:
        if not s.peer:
            levels.setdefault(s.name, []).append(abs(s.med_b))
    typical = {name: sorted(v)[len(v) // 2] for name, v in levels.items()}
    out: dict[str, list[SeriesShift]] = {}
    for s in shifts:
        if s.peer or not is_resource(s.name) or s.z < 4:
            continue
        if s.med_w < 1.2 * s.med_b or s.med_w < 0.1 * typical[s.name]:
            continue
        out.setdefault(s.service, []).append(s)
    for lst in out.values():
        lst.sort(key=lambda s: -s.z)
    return out


def starved(shifts: list[SeriesShift]) -> dict[str, list[SeriesShift]]:
    """Per service: load gauges of its pods that collapsed (robust z <= -4 and under half the
    baseline median): it is no longer given work. Empty when most services collapsed at once
    (the whole site lost traffic; nothing points at one caller then)."""
    out: dict[str, list[SeriesShift]] = {}
    seen = set()
    for s in shifts:
        low = s.name.lower()
        if s.peer or low.startswith(_SHARED_PREFIXES) or not any(w in low for w in _LOAD_WORDS):
            continue
        seen.add(s.service)
        if s.z <= -4 and s.med_w < 0.5 * s.med_b:
            out.setdefault(s.service, []).append(s)
    if len(out) * 2 > len(seen):
        return {}
    for lst in out.values():
        lst.sort(key=lambda s: s.z)
    return out


def failing(shifts: list[SeriesShift]) -> dict[str, list[SeriesShift]]:
    """Per service: its own success-rate gauges that fell, or error/failure-rate gauges that
    rose, far beyond their baseline (to twice its p90 at least: a rate that was 0 most minutes
    and is 0.1 now is noise): its requests fail even where no span or log says so."""
    out: dict[str, list[SeriesShift]] = {}
    for s in shifts:
        low = s.name.lower()
        if s.peer:
            continue
        if ("success" in low and (s.z <= -4 or _failures_rose(s)) and s.med_w < s.med_b) or (
                ("error" in low or "fail" in low) and "success" not in low and s.z >= 4
                and s.med_w >= 2 * s.p90_b and s.med_w > s.med_b):
            out.setdefault(s.service, []).append(s)
    for lst in out.values():
        lst.sort(key=lambda s: -abs(s.z))
    return out


def _failures_rose(s: SeriesShift) -> bool:
    """A success rate read as its complement, the failure rate: a rate that sat at its ceiling
    (100 %, or 1) has no spread to measure a drop by, yet 0 % failing becoming 2 % is a change.
    Failures must reach a percent of the ceiling and three times the baseline's (plus a tenth
    of a percent)."""
    top = 100.0 if s.max_b > 1.0 else 1.0
    fail_w, fail_b = top - s.med_w, top - s.med_b
    return fail_w >= 0.01 * top and fail_w >= 3 * fail_b + 0.001 * top


def slowed(shifts: list[SeriesShift]) -> dict[str, list[SeriesShift]]:
    """Per service: its own server-side latency gauges far above their baseline (robust z >= 4
    and at least half as much again), by a quarter of the same gauge's typical level across
    pods at least (3 ms more on a 5 ms service is no incident): its requests take longer even
    where no span says so (a caught exception's retry, a slower code path)."""
    mine = [s for s in shifts if not s.peer and "server" in s.name.lower()
            and any(w in s.name.lower() for w in ("latency", "duration"))]
    levels: dict[str, list[float]] = {}
    for s in mine:
        levels.setdefault(s.name, []).append(abs(s.med_b))
    typical = {name: sorted(v)[len(v) // 2] for name, v in levels.items()}
    out: dict[str, list[SeriesShift]] = {}
    for s in mine:
        if s.z >= 4 and s.med_w >= 1.5 * s.med_b and s.med_w - s.med_b >= 0.25 * typical[s.name]:
            out.setdefault(s.service, []).append(s)
    for lst in out.values():
        lst.sort(key=lambda s: -s.z)
    return out


def peer_edges(shifts: list[SeriesShift]) -> set[tuple[str, str]]:
    """(caller, callee) of every series with a peer attribute, from the side that measured it."""
    out = set()
    for s in shifts:
        if s.peer and s.peer != s.service:
            low = s.name.lower()
            if "client" in low:
                out.add((s.service, s.peer))
            elif "server" in low:
                out.add((s.peer, s.service))
    return out


def strength(z: float, z_min: float = 4.0) -> float:
    """0..1 from a robust z: nothing below z_min, near 1 by z_min + 12."""
    return 0.0 if z < z_min else 1 - math.exp(-(z - z_min + 1) / 4)
