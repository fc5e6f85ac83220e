"""Leads from gauge metrics onto service scores (pipeline/rca/score.py): pod pressure, edge
gaps, failing success or error rates, services whose own server latency rose, and callers
that cut their callees off. Each sets its own strength and evidence on the service's score,
which combines them with the span signals as independent evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from pipeline.rca.edge_gaps import EdgeGap, gap_strength
from pipeline.rca.pod_metrics import SeriesShift, failing, peer_edges, pod_pressure, slowed, starved, strength


def metric_anomalies(shifts: list[SeriesShift], gaps: dict[str, list[EdgeGap]], get: Callable) -> None:
    """Pod pressure, caller-side edge gaps and failing gauges onto service scores (`get(service)`
    returns the service's score, made on first use)."""
    pods: dict[str, set[str]] = defaultdict(set)
    for sh in shifts:
        if sh.pod and not sh.peer:
            pods[sh.service].add(sh.pod)
    for svc, lst in pod_pressure(shifts).items():
        s = get(svc)
        s.pressure = lst[:3]
        s.pressure_strength = strength(lst[0].z)
    for svc, lst in gaps.items():
        s = get(svc)
        s.gaps = lst[:3]
        s.gap_strength = gap_strength(lst[0])
    for svc, lst in failing(shifts).items():
        s = get(svc)
        s.failing = lst[:2]
        # a symptom as much as a cause (failures climb to the entry service): never alone decisive
        s.fail_strength = 0.6 * max(strength(abs(lst[0].z)), 0.5)
    for svc, names in pods.items():
        get(svc).pods = tuple(sorted(names))


def cut_off_callers(shifts: list[SeriesShift], trace_edges: set[tuple[str, str]], get: Callable) -> None:
    """A service that stopped getting work was cut off by a caller: a changed return value or a
    caught exception upstream ends requests before they reach it, and raises no error anywhere.
    Each collapsed service's strength is shared among its callers that kept working."""
    gone = starved(shifts)
    if not gone:
        return
    edges = trace_edges | peer_edges(shifts)
    for svc, lst in gone.items():
        callers = sorted({c for c, d in edges if d == svc and c not in gone and c != svc})
        for c in callers:
            s = get(c)
            s.cut_off.append(lst[0])
            s.cut_strength = 1 - (1 - s.cut_strength) * (1 - strength(-lst[0].z) / len(callers))


def slowed_leads(shifts: list[SeriesShift], trace_edges: set[tuple[str, str]], get: Callable) -> None:
    """A service whose own server latency gauges rose is a lead unless a service it calls
    (directly or not) slowed too: latency climbs to every caller, so only the deepest counts."""
    slow = slowed(shifts)
    calls: dict[str, set[str]] = defaultdict(set)
    for caller, callee in trace_edges | peer_edges(shifts):
        calls[caller].add(callee)
    for svc, lst in slow.items():
        seen, todo = set(), [svc]
        while todo:
            for nxt in calls.get(todo.pop(), set()) - seen - {svc}:
                seen.add(nxt)
                todo.append(nxt)
        if seen & set(slow):
            continue
        s = get(svc)
        s.failing = (s.failing + lst[:1])[:2]
        s.fail_strength = 1 - (1 - s.fail_strength) * (1 - 0.5 * strength(lst[0].z))
