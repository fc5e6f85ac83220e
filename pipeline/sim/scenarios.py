"""Pick a valid, observable target for each fault type, reproducibly from a seed.

Used by the root-cause evaluation: a fault on a service that almost nothing calls is a fault
no on-call engineer would be asked about, so targets are drawn from services (or call
edges) whose expected request rate at the simulation's load is worth a page.
"""

from __future__ import annotations

import random
from collections import defaultdict

from pipeline.sim.faults import EDGE_FAULTS, FAULT_TYPES, SILENT_FAULTS
from pipeline.sim.topology import Topology


def request_rates(topo: Topology, rps: float) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Expected calls per second reaching each service and crossing each edge (caller, callee)."""
    svc: dict[str, float] = defaultdict(float)
    edge: dict[tuple[str, str], float] = defaultdict(float)
    total = sum(topo.entry_weights) or 1.0

    def visit(op, rate: float, depth: int) -> None:
        svc[op.service.name] += rate
        if depth > 20:
            return
        for c in op.calls:
            n = c.probability * (c.fanout[0] + c.fanout[1]) / 2
            callee = c.target.service
            if c.via is not None:
                edge[(op.service.name, c.via.name)] += rate * n
                svc[c.via.name] += rate * n
            else:
                edge[(op.service.name, callee.name)] += rate * n
            visit(c.target, rate * n, depth + 1)

    for op, w in zip(topo.entries, topo.entry_weights):
        visit(op, rps * w / total, 0)
    return dict(svc), dict(edge)


def pick_target(topo: Topology, ftype: str, rng: random.Random, rps: float, min_rate: float = 1.0) -> str:
    """A target spec for `ftype`: a service, or `caller->callee` for network faults."""
    if ftype not in FAULT_TYPES:
        raise ValueError(f"unknown fault type {ftype!r}")
    svc_rate, edge_rate = request_rates(topo, rps)
    entry_services = {op.service.name for op in topo.entries}
    if ftype in EDGE_FAULTS:
        edges = sorted(e for e, r in edge_rate.items() if r >= min_rate and e[0] != e[1])
        a, b = rng.choice(edges)
        return f"{a}->{b}"
    names = sorted(s for s, r in svc_rate.items() if r >= min_rate)
    if ftype == "pool-exhaustion":
        names = [s for s in names if topo.services[s].pool_size]
    elif ftype in ("dependency-down", "memory"):
        # With every front door down no request is ever recorded: nothing to rank.
        names = [s for s in names if s not in entry_services or ftype == "memory"]
    elif ftype in SILENT_FAULTS:  # only a service that logs can show them
        names = [s for s in names if topo.services[s].emits_spans]
    elif ftype == "bad-deploy":
        names = [s for s in names if topo.services[s].emits_spans and len(topo.services[s].instances) > 1]
    return rng.choice(names)


def fault_spec(topo: Topology, ftype: str, seed: int, rps: float, start_s: int, duration_s: int) -> str:
    """A fault spec text (see pipeline/sim/faults.py) for one evaluation run."""
    rng = random.Random(f"telecorr-eval:{topo.name}:{ftype}:{seed}")
    target = pick_target(topo, ftype, rng, rps)
    return f"type={ftype},target={target},start=+{start_s}s,duration={duration_s}s"
