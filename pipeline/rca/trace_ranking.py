""""This trace failed (or was slow): why?"

Walks the trace's correlated spans: the deepest failures (errors none of whose children
failed), spans whose own time (not their children's) explains the trace's latency against
the same operation's recent baseline, rule-tagged logs and metric readings far from their
series' baseline on the span's instance. Ranks components (service, instance, operation).
"""

from __future__ import annotations

import math

import orjson

from pipeline.query import rules_from_setting
from pipeline.rca.answer import Candidate, Evidence
from pipeline.rca.source import as_rows
from pipeline.store.queries.rca import SELF_TIME_BASELINE, TRACE_SPANS

_BASELINE_NS = 30 * 60 * 10**9


def rank_trace(client, trace_id: str, limit: int = 5, rules_file: str | None = None) -> dict | None:
    """Ranked candidates for one stored trace; None when the trace is not (yet) correlated."""
    src = as_rows(client)
    spans = src.rows(TRACE_SPANS, {"trace": trace_id})
    if not spans:
        return None
    t0 = min(s["orig_start_ns"] for s in spans)
    keys = sorted({(s["service"], s["peer"], s["name"]) for s in spans})
    base = {(r["service"], r["peer"], r["name"]): r for r in src.rows(
        SELF_TIME_BASELINE, {"lo": t0 - _BASELINE_NS, "hi": t0 + 60 * 10**9, "trace": trace_id, "keys": keys})}
    signals = {r.id: r.signal for r in rules_from_setting(rules_file)}
    by_id = {s["span_id"]: s for s in spans}
    roots = [s for s in spans if s["parent_span_id"] not in by_id]
    root_ns = max(max(s["end_ns"] for s in spans) - min(s["start_ns"] for s in spans), 1)
    root_failed = any(r["is_error"] for r in roots)
    notes = []
    if len(roots) > 1:
        notes.append(f"the trace has {len(roots)} spans without a stored parent: some spans may be missing")
    if not any(s["metrics"] for s in spans):
        notes.append("no metric readings joined this trace's spans")
    if not any(base.values()):
        notes.append("no baseline for this trace's operations in the 30 minutes before it")

    comps: dict[tuple[str, str, str], dict] = {}
    for s in spans:
        target = s["peer"] or s["service"]
        key = (target, "" if s["peer"] else s["instance"], s["name"])
        c = comps.setdefault(key, {"err": 0.0, "lat": 0.0, "res": 0.0, "ev": [], "kind": "error",
                                   "caller": s["service"] if s["peer"] else ""})
        if s["own_error"]:
            reach = _reaches_root(s, by_id) and root_failed
            c["err"] = max(c["err"], 0.95 if reach else 0.6)
            c["ev"].append(Evidence("span", f"{s['name']} failed ({s['status_message'] or 'error'}) and none of its "
                                            f"children did" + ("; the failure reached the trace's root" if reach else ""),
                                    {"trace_id": trace_id, "span_id": s["span_id"]}))
            for log in _error_logs(s)[:2]:
                c["ev"].append(Evidence("log", log["body"], {"trace_id": trace_id, "span_id": s["span_id"],
                                                             "log_id": log["id"], "time_ns": log["time_ns"]}))
        b = base.get((s["service"], s["peer"], s["name"]))
        if b and b["n"] >= 5:
            p50, p90, p99 = b["q"]
            excess = s["self_time_ns"] - p50
            if s["self_time_ns"] > max(p99, 2 * p90) and excess > 1_000_000:
                share = excess / root_ns
                c["lat"] = max(c["lat"], min(1.0, share) * min(1.0, s["self_time_ns"] / max(p99, 1) / 3 + 0.4))
                c["ev"].append(Evidence("span", f"{s['name']} spent {s['self_time_ns'] / 1e6:.1f} ms of its own "
                                                f"time, {share:.0%} of the trace (p50 of the last 30 min "
                                                f"{p50 / 1e6:.1f} ms, p99 {p99 / 1e6:.1f} ms)",
                                        {"trace_id": trace_id, "span_id": s["span_id"]}))
        for name, z in (s["metric_z"] or {}).items():
            if z >= 4 and _pressure(name, s["metrics"].get(name)):
                c["res"] = max(c["res"], 1 - math.exp(-(abs(z) - 3) / 6))
                c["ev"].append(Evidence("metric", f"{name} = {s['metrics'].get(name, float('nan')):.4g} on "
                                                  f"{s['instance']} during the span (z {z:.1f} against its recent "
                                                  f"samples)", {"service": s["service"], "instance": s["instance"],
                                                                "metric": name, "window_value": s["metrics"].get(name),
                                                                "z": z}))
        for rule in s["rule_ids"] or ():
            sig = signals.get(rule, "")
            c["ev"].append(Evidence("log", f"rule {rule} ({sig or 'no signal'}) matched a log of this span",
                                    {"trace_id": trace_id, "span_id": s["span_id"], "rule": rule}))
            if sig in ("resource", "lifecycle"):
                c["res"] = max(c["res"], 0.5)
    ranked = []
    for (svc, inst, op), c in comps.items():
        anomaly = max(c["err"], c["lat"])
        score = 1 - (1 - anomaly) * (1 - 0.35 * c["res"])
        if score <= 0.01:
            continue
        kind = max((c["err"], 2, "error"), (c["lat"], 1, "latency"), (c["res"], 0, "resource"))[2]
        if c["caller"] and c["err"]:
            msgs = " ".join(e.summary.lower() for e in c["ev"])
            kind = "network" if "reset" in msgs else ("dependency" if "refused" in msgs or "unavailable" in msgs
                                                      else kind)
        ranked.append(Candidate(svc, inst, op, kind, round(score, 4), _dedupe(c["ev"])[:6]))
    ranked.sort(key=lambda c: (-c.score, c.service, c.operation))
    for i, c in enumerate(ranked):
        c.rank = i + 1
    return {"mode": "trace", "trace_id": trace_id, "from_ns": min(s["start_ns"] for s in spans),
            "to_ns": max(s["end_ns"] for s in spans), "baseline": {"from_ns": t0 - _BASELINE_NS, "to_ns": t0},
            "service": None, "confidence": round(ranked[0].score, 3) if ranked else 0.0, "notes": notes,
            "candidates": [c.as_dict() for c in ranked[:max(1, limit)]],
            "graph": _graph(spans, by_id, ranked[0].service if ranked else None)}


def _pressure(metric: str, value: float | None) -> bool:
    """A reading that says the instance is short of a resource, not merely busier than usual."""
    if value is None or metric.startswith("service.") or metric.startswith("system.network"):
        return False
    if metric == "process.cpu.utilization":
        return value >= 0.7
    return True


def _reaches_root(span: dict, by_id: dict) -> bool:
    """Whether every ancestor up to the root failed too (the failure is what the user saw)."""
    cur = span
    while cur["parent_span_id"] in by_id:
        cur = by_id[cur["parent_span_id"]]
        if not cur["is_error"]:
            return False
    return True


def _error_logs(span: dict) -> list[dict]:
    raw = span["error_logs"]
    return orjson.loads(raw) if raw else []


def _dedupe(ev: list[Evidence]) -> list[Evidence]:
    seen, out = set(), []
    for e in ev:
        if e.summary not in seen:
            seen.add(e.summary)
            out.append(e)
    return out


def _graph(spans: list[dict], by_id: dict, suspect: str | None) -> dict:
    edges: dict[tuple[str, str], dict] = {}
    for s in spans:
        parent = by_id.get(s["parent_span_id"])
        callee = s["peer"] or s["service"]
        # A server span under a client span is the same call the client span already counted.
        caller = s["service"] if s["peer"] else (parent["service"] if parent and not parent["peer"] else None)
        if not caller or caller == callee:
            continue
        e = edges.setdefault((caller, callee), {"calls": 0, "errors": 0})
        e["calls"] += 1
        e["errors"] += int(s["is_error"])
    names = {s["service"] for s in spans} | {s["peer"] for s in spans if s["peer"]}
    return {"nodes": [{"service": n, "score": 0.0, "suspect": n == suspect} for n in sorted(names)],
            "edges": [{"caller": a, "callee": b, "calls": e["calls"], "errors": e["errors"],
                       "error_rate": round(e["errors"] / e["calls"], 4), "baseline_error_rate": None,
                       "p50_ms": None, "baseline_p50_ms": None} for (a, b), e in sorted(edges.items())]}
