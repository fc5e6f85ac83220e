"""Score the window ranking against a simulator's ground truth, beside simple baselines.

For every injected fault the window is the fault's true [start, end) and the answer is right
when a candidate names the fault's service (for a network fault on an edge, the callee). The
baselines answer the same question the obvious way, from the same store, so the comparison
says what the attribution and the call-graph reasoning buy.
"""

from __future__ import annotations

from collections import defaultdict

from pipeline.rca.source import as_rows
from pipeline.rca.window import rank_window
from pipeline.store.queries.baselines import BASELINES
from pipeline.store.queries.window import Period

BASELINE_NS = 30 * 60 * 10**9

# The kind an answer should give per simulated fault type. Simulated slow code burns CPU, so a
# latency fault that saturates the CPU is fairly called a resource problem too.
EXPECTED_KINDS = {"error": {"error"}, "latency": {"latency", "resource"}, "cpu": {"resource"},
                  "memory": {"resource"}, "network-delay": {"network"}, "packet-loss": {"network"},
                  "dependency-down": {"dependency"}, "pool-exhaustion": {"resource"}, "bad-deploy": {"deploy"},
                  "return-value": {"error"}, "caught-exception": {"error"}}


def baseline_ranking(client, name: str, from_ns: int, to_ns: int, base_from_ns: int) -> list[str]:
    """Services ranked by one baseline method."""
    src = as_rows(client)
    period = Period(from_ns, to_ns, base_from_ns, from_ns)
    return [r["target"] for r in src.rows(BASELINES[name], period.params())]


def rank_of(services: list[str], truth: str) -> int | None:
    """1-based rank of the true service, None when absent."""
    for i, s in enumerate(services):
        if s == truth:
            return i + 1
    return None


def evaluate_truth(client, truth: dict, baselines: bool = True, extra: dict | None = None) -> list[dict]:
    """One result per fault: the true service's rank by telecorr and by each baseline.

    `extra` maps a method name to a callable(client, from_ns, to_ns, base_from_ns) -> services,
    for comparison methods outside this package.
    """
    out = []
    sim_start = truth.get("start_ns") or 0
    for f in truth["faults"]:
        lo, hi = f["start_ns"], f["end_ns"]
        base_from = max(lo - BASELINE_NS, sim_start)
        answer = rank_window(client, lo, hi, limit=10, baseline_ns=lo - base_from)
        services = [c["service"] for c in answer["candidates"]]
        top = answer["candidates"][0] if answer["candidates"] else None
        row = {"type": f["type"], "target": f["target"], "service": f["service"],
               "rank": rank_of(services, f["service"]), "top": services[:3],
               "kind": top["kind"] if top else None, "confidence": answer["confidence"], "baselines": {}}
        row["kind_ok"] = bool(top) and row["rank"] == 1 and top["kind"] in EXPECTED_KINDS.get(f["type"], {top["kind"]})
        methods = dict(BASELINES) if baselines else {}
        for name in methods:
            row["baselines"][name] = rank_of(baseline_ranking(client, name, lo, hi, base_from), f["service"])
        for name, fn in (extra or {}).items():
            row["baselines"][name] = rank_of(fn(client, lo, hi, base_from), f["service"])
        out.append(row)
    return out


def summarise(results: list[dict]) -> dict:
    """top1/top3/mrr overall and per fault type, for telecorr and every baseline."""
    def figures(ranks: list[int | None]) -> dict:
        n = len(ranks)
        if not n:
            return {"n": 0, "top1": 0.0, "top3": 0.0, "mrr": 0.0}
        return {"n": n, "top1": round(sum(1 for r in ranks if r == 1) / n, 4),
                "top3": round(sum(1 for r in ranks if r and r <= 3) / n, 4),
                "mrr": round(sum(1 / r for r in ranks if r) / n, 4)}

    by_type: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_type[r["type"]].append(r)
    names = sorted({b for r in results for b in r["baselines"]})
    def kinds(rs: list[dict]) -> float:
        return round(sum(1 for r in rs if r.get("kind_ok")) / len(rs), 4) if rs else 0.0

    summary = {"faults": len(results), **figures([r["rank"] for r in results]), "kind_accuracy": kinds(results),
               "baselines": {b: figures([r["baselines"].get(b) for r in results]) for b in names},
               "by_type": {}}
    for t, rs in sorted(by_type.items()):
        summary["by_type"][t] = {"telecorr": {**figures([r["rank"] for r in rs]), "kind_accuracy": kinds(rs)},
                                 **{b: figures([r["baselines"].get(b) for r in rs]) for b in names}}
    return summary
