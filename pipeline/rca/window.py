""""This service is slow/failing between T1 and T2: where did it start?"

Compares the window with the stored period before it (default: the preceding 30 minutes of
whatever is stored), ranks services (pipeline/rca/score.py) and backs each candidate with
evidence rows fetched for it: failed or slow spans, log lines, metric series.
"""

from __future__ import annotations

from collections import defaultdict

from pipeline.query import rules_from_setting
from pipeline.rca import logpatterns
from pipeline.rca import components as comp
from pipeline.rca import edge_gaps, pod_metrics, trace_ends
from pipeline.rca.answer import Candidate, Evidence
from pipeline.rca.score import Part, ServiceScore, score_services
from pipeline.rca.source import as_rows
from pipeline.store.queries import gauges
from pipeline.store.queries import window as q

DEFAULT_BASELINE_NS = 30 * 60 * 10**9
MAX_WINDOW_NS = 24 * 3600 * 10**9
_MIN_BASELINE_NS = 30 * 10**9


class WindowError(ValueError):
    """A window the ranking cannot answer (the message says why)."""


def period_for(from_ns: int, to_ns: int, baseline_ns: int, first_ns: int | None) -> tuple[q.Period, list[str]]:
    """The window and its baseline, the latter clipped to the first span stored in it
    (`first_ns`, from COMPONENTS); notes say what is thin."""
    notes = []
    base_from = max(from_ns - baseline_ns, first_ns if first_ns is not None else from_ns)
    if from_ns - base_from < _MIN_BASELINE_NS:
        notes.append(f"only {(from_ns - base_from) / 1e9:.0f} s of telemetry is stored before the window; "
                     "the baseline is thin, so confidence is lower")
    return q.Period(from_ns, to_ns, min(base_from, from_ns), from_ns), notes


def rank_window(client, from_ns: int, to_ns: int, service: str | None = None, limit: int = 5,
                baseline_ns: int = DEFAULT_BASELINE_NS, rules_file: str | None = None) -> dict:
    """Ranked root-cause candidates for a window, optionally scoped to one service and what it calls."""
    if to_ns <= from_ns:
        raise WindowError("'to' must be after 'from'")
    if to_ns - from_ns > MAX_WINDOW_NS:
        raise WindowError("the window is longer than 24 hours; narrow it")
    src = as_rows(client)
    # The whole baseline period is scanned; where it starts before the first stored span the
    # rows read are the same as from that span on, so the clipped period follows from the scan.
    components = src.rows(q.COMPONENTS, q.Period(from_ns, to_ns, from_ns - baseline_ns, from_ns).params())
    period, notes = period_for(from_ns, to_ns, baseline_ns, comp.first_stored_ns(components))
    metrics = src.rows(gauges.METRICS, {**period.params(), "late": pod_metrics.LATE_NS})
    # Metrics keep their own history: the baseline of the spans is clipped to the first span
    # stored, but a store that keeps traces only around incidents still has every reading.
    metric_period = q.Period(from_ns, to_ns, from_ns - baseline_ns, from_ns)
    late = {**metric_period.params(), "late": pod_metrics.LATE_NS}
    shifts = [s for s in map(pod_metrics.shift_of, src.rows(gauges.POD_SERIES, late)) if s]
    gaps = edge_gaps.edge_gaps(src.rows(gauges.EDGE_GAPS, late))
    rules = src.rows(q.LOG_RULES, period.params())
    peers = sorted({r["peer"] for r in components if r["peer"]})
    mentions = src.rows(q.LOG_MENTIONS, {**period.params(), "peers": peers}) if peers else []
    signals = {r.id: r.signal for r in rules_from_setting(rules_file)}
    edges = _edges(components)
    # Log-pattern evidence (templates that stopped or appeared): pipeline/rca/logpatterns.py.
    # Its baseline is not clipped to the first span: minutes without logs are left out anyway.
    patterns = logpatterns.find(src, q.Period(from_ns, to_ns, from_ns - baseline_ns, from_ns),
                                logpatterns.traffic(components, period))
    logpatterns.credit_named_callees(patterns, lambda svc: _below(svc, edges))
    ranked = score_services(components, metrics, rules, comp.call_failures(components), signals, mentions,
                            comp.root_ns(components) / 1e6, shifts, gaps, patterns,
                            trace_ends.trace_ends(trace_ends.fetch(src, period)))
    if service:
        scope = {service} | _below(service, edges)
        if not any(r["service"] == service for r in components):
            notes.append(f"no spans of service {service!r} are stored in this period")
        ranked = [s for s in ranked if s.service in scope]
    if not components:
        notes.append("no correlated spans in the window or its baseline")
    if not metrics:
        notes.append("no metrics stored for this period: resource causes cannot be seen")
    if not rules:
        notes.append("no rule-tagged logs in this period")
    if ranked and ranked[0].score < 0.3:
        notes.append("no strong anomaly against the baseline: the candidates are weak leads")
    elif not ranked:
        notes.append("no anomaly stands out against the baseline")
    top = ranked[:max(1, limit)]
    span_ev, log_ev = _evidence_rows(src, period, top)
    candidates = [_candidate(s, i + 1, span_ev.get(s.service, []), log_ev.get(s.service, []))
                  for i, s in enumerate(top)]
    for c in candidates:
        logpatterns.attach(c, patterns)
    return {
        "mode": "window", "from_ns": from_ns, "to_ns": to_ns,
        "baseline": {"from_ns": period.base_from_ns, "to_ns": period.base_to_ns},
        "service": service, "trace_id": None,
        "confidence": _confidence(ranked, notes), "notes": notes,
        "candidates": [c.as_dict() for c in candidates],
        "graph": _graph(edges, components, ranked, top[0].service if top else None),
    }


def _confidence(ranked: list[ServiceScore], notes: list[str]) -> float:
    """How sure the top answer is: its score, its lead over the runner-up, less for missing signals."""
    if not ranked:
        return 0.0
    first = ranked[0].score
    second = ranked[1].score if len(ranked) > 1 else 0.0
    c = first * (0.5 + 0.5 * (first - second) / max(first, 1e-9))
    return round(c * (0.85 ** len(notes)), 3)


def _edges(components: list[dict]) -> dict[tuple[str, str], dict]:
    out: dict[tuple[str, str], dict] = {}
    for r in components:
        if not r["peer"] or r["peer"] == r["service"]:
            continue
        e = out.setdefault((r["service"], r["peer"]), {"calls": 0, "errors": 0, "calls_b": 0, "errors_b": 0,
                                                       "p50_w": [], "p50_b": []})
        e["calls"] += r["n_w"]
        e["errors"] += r["err_w"]
        e["calls_b"] += r["n_b"]
        e["errors_b"] += r["err_b"]
        if r["n_w"]:
            e["p50_w"].append((r["n_w"], r["dur_p50_w"]))
        if r["n_b"]:
            e["p50_b"].append((r["n_b"], r["dur_p50_b"]))
    return out


def _below(service: str, edges: dict) -> set[str]:
    calls = defaultdict(set)
    for caller, callee in edges:
        calls[caller].add(callee)
    seen, todo = set(), [service]
    while todo:
        for nxt in calls.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _wavg(pairs: list[tuple[int, float]]) -> float | None:
    n = sum(c for c, _ in pairs)
    return round(sum(c * v for c, v in pairs) / n / 1e6, 3) if n else None


def _graph(edges: dict, components: list[dict], ranked: list[ServiceScore], suspect: str | None) -> dict:
    scores = {s.service: round(s.score, 3) for s in ranked}
    names = {r["service"] for r in components} | {r["peer"] for r in components if r["peer"]}
    nodes = [{"service": n, "score": scores.get(n, 0.0), "suspect": n == suspect} for n in sorted(names)]
    out = []
    for (caller, callee), e in sorted(edges.items()):
        out.append({"caller": caller, "callee": callee, "calls": e["calls"], "errors": e["errors"],
                    "error_rate": round(e["errors"] / e["calls"], 4) if e["calls"] else 0.0,
                    "baseline_error_rate": round(e["errors_b"] / e["calls_b"], 4) if e["calls_b"] else 0.0,
                    "p50_ms": _wavg(e["p50_w"]), "baseline_p50_ms": _wavg(e["p50_b"])})
    return {"nodes": nodes, "edges": out}


def _part_summary(p: Part) -> str | None:
    where = f"calls from {p.caller} ({p.operation})" if p.caller else f"{p.operation} on {p.instance}"
    bits = []
    if p.err_excess > 0 and p.n_w:
        bits.append(f"{p.err_rate_w:.1%} of {p.n_w} failed here with healthy children "
                    f"(baseline {p.err_rate_b:.1%})")
    if p.lat_excess_ms > 0:
        bits.append(f"self time p50 {p.p50_w_ms:.1f} ms, p90 {p.p90_w_ms:.1f} ms "
                    f"(baseline {p.p50_b_ms:.1f} / {p.p90_b_ms:.1f} ms)")
    return f"{where}: " + "; ".join(bits) if bits else None


def _evidence_rows(src, period: q.Period, top: list[ServiceScore]) -> tuple[dict, dict]:
    """Example spans and log lines for every candidate, in one read each."""
    if not top:
        return {}, {}
    names = [s.service for s in top]
    # "Slow" for the examples: twice the slowest baseline p90 among the candidates' slowed parts.
    slow = max((p.p90_b_ms for s in top for p in s.parts if p.lat_excess_ms > 0), default=0.0)
    slow_ns = int(slow * 2e6) or (1 << 62)
    spans: dict[str, list[dict]] = defaultdict(list)
    for r in src.rows(q.SPAN_EVIDENCE, {**period.params(), "svcs": names, "slow": slow_ns}):
        spans[r["target"]].append(r)
    logs: dict[str, list[dict]] = defaultdict(list)
    for r in src.rows(q.LOG_EVIDENCE, {**period.params(), "svcs": names}):
        logs[r["service"]].append(r)
    return spans, logs


def _shift_evidence(service: str, sh: pod_metrics.SeriesShift, text: str) -> Evidence:
    """A metric evidence row for one robust series shift."""
    return Evidence("metric", text, {"service": service, "instance": sh.pod or None, "metric": sh.name,
                                     "window_value": sh.med_w, "baseline_value": sh.med_b, "z": round(sh.z, 2)})


def _candidate(s: ServiceScore, rank: int, span_rows: list[dict], log_rows: list[dict]) -> Candidate:
    ev: list[Evidence] = []
    parts = sorted((p for p in s.parts if p.err_excess > 0 or p.lat_excess_ms > 0),
                   key=lambda p: -(max(p.err_excess, 0) * 50 + p.lat_excess_ms))
    for p in parts[:3]:
        text = _part_summary(p)
        if text:
            ev.append(Evidence("span", text, {"service": s.service, "caller": p.caller or None,
                                              "instance": p.instance, "operation": p.operation}))
    if s.silent:
        ev.append(Evidence("span", f"{s.service} wrote no spans in the window although its callers kept "
                                   "calling it", {"service": s.service}))
    if s.discount:
        ev.append(Evidence("span", f"ranked lower: {s.discount}, which {s.service} calls, is more anomalous "
                                   "and may explain this", {"service": s.discount}))
    for r in span_rows:
        what = "failed: " + (r["status_message"] or "error") if r["own_error"] else \
            f"took {r['self_time_ns'] / 1e6:.1f} ms of its own time"
        who = f"{r['service']} → {r['peer']}" if r["peer"] else f"{r['service']} on {r['instance']}"
        ev.append(Evidence("span", f"{r['name']} ({who}) {what}",
                           {"trace_id": r["trace_id"], "span_id": r["span_id"]}))
    for g in s.gaps[:2]:
        ev.append(Evidence("metric", f"calls {g.caller} → {g.callee}: {g.metric} on {g.caller_pod or g.caller} rose "
                                     f"by {g.rise:.4g} ({g.rel:.0%}) more than {g.callee} itself saw (z {g.z:.1f})",
                           {"caller": g.caller, "callee": g.callee, "instance": g.caller_pod, "metric": g.metric,
                            "rise": g.rise, "z": round(g.z, 2)}))
    if s.ends:
        ev.append(Evidence("span", s.ends.summary(), {"service": s.service, "share_w": round(s.ends.share_w, 4),
                                                      "share_b": round(s.ends.share_b, 4),
                                                      "traces_w": s.ends.traces_w}))
    for f in s.failing[:1]:
        ev.append(_shift_evidence(s.service, f, f"{f.name} of {s.service}: window median {f.med_w:.4g} against "
                                                f"baseline median {f.med_b:.4g} (robust z {f.z:.1f})"))
    for c in s.cut_off[:2]:
        ev.append(_shift_evidence(c.service, c, f"{c.service}, which {s.service} calls, stopped getting work: "
                                                f"{c.name} on {c.pod} fell to {c.med_w:.4g} from a baseline median "
                                                f"of {c.med_b:.4g} (requests end before they reach it)"))
    for p in s.pressure[:2]:
        ev.append(_shift_evidence(s.service, p, f"{p.name} on {p.pod}: window median {p.med_w:.4g} against "
                                                f"baseline median {p.med_b:.4g} (max {p.max_b:.4g}; robust z {p.z:.1f})"))
    for m in s.metric_series[:3]:
        if m["silent"]:
            text = f"{m['name']} on {m['instance']}: no samples in the window (baseline mean {m['mean_b']:.4g})"
        else:
            text = (f"{m['name']} on {m['instance']}: window mean {m['mean_w']:.4g}, max {m['max_w']:.4g} "
                    f"against baseline {m['mean_b']:.4g} ± {m['sd_b']:.2g} (z {m['z']:.1f})")
        ev.append(Evidence("metric", text, {"service": s.service, "instance": m["instance"], "metric": m["name"],
                                            "window_value": m["mean_w"] if m["n_w"] else None,
                                            "window_max": m["max_w"] if m["n_w"] else None,
                                            "baseline_value": m["mean_b"], "z": m["z"]}))
    for r in s.log_rules[:2]:
        ev.append(Evidence("log", f"rule {r['rule']} ({r['signal']}) matched {r['n_w']} log lines of "
                                  f"{r['instance'] or s.service} in the window ({r['n_b']} in the baseline)",
                           {"rule": r["rule"], "service": s.service, "instance": r["instance"],
                            "log_id": r["first_id"]}))
    for r in log_rows:
        ev.append(Evidence("log", r["excerpt"], {"log_id": r["id"], "trace_id": r["trace_id"] or None,
                                                 "span_id": r["span_id"] or None, "instance": r["instance"],
                                                 "time_ns": r["time_ns"], "rules": list(r["rules"])}))
    return Candidate(s.service, s.instance, s.operation, s.kind, round(s.score, 4), ev, rank)
