"""Rank services from window-versus-baseline aggregates (pure Python over a few hundred rows).

Anomalies are attributed where they start before anything is compared: an error counts only
for the span no child of which failed (`own_error`), latency only as a span's self-time, and a
call out counts for the service it calls, so a database that refuses connections or a link
that drops packets is charged to the callee, not to every caller above it. What remains of
upstream symptoms (a caller waiting on a pool because the database behind it is slow) is
discounted along the call graph: a service whose anomaly a more anomalous dependency below
it explains ranks below that dependency.

A service's score combines how anomalous it is (effect size, gated by significance) with how
much of the window's total excess errors or latency it accounts for, raised by corroborating
metric deviations and rule-tagged logs. Kinds follow the strongest evidence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from pipeline.rca.blame import blame
from pipeline.rca.edge_gaps import EdgeGap
from pipeline.rca.logpatterns import Findings
from pipeline.rca.trace_ends import TraceEnd
from pipeline.rca.metric_leads import cut_off_callers, metric_anomalies, slowed_leads
from pipeline.rca.pod_metrics import COARSE_NS, SeriesShift

# Metrics that describe load rather than a resource; their change is a symptom, not a cause.
_SYMPTOM_METRICS = ("service.request.rate", "service.error.rate", "service.request.duration",
                    "system.network.io.rate")
_RESOURCE_RULE_SIGNALS = ("resource", "lifecycle")
_REFUSED_WORDS = ("refused", "unavailable", "no route", "unreachable", "connection error", "econnrefused")
_NETWORK_WORDS = ("reset", "broken pipe", "econnreset", "packet", "tls", "handshake")
_MIN_ERR_Z = 3.0
_MIN_LAT_Z = 4.0
_MIN_LAT_SHIFT_NS = 1_000_000
_MIN_LAT_REL = 0.25
_MIN_IMPACT = 0.02  # added self time below this share of the users' waiting scales down


@dataclass(slots=True)
class Part:
    """One component's contribution: own spans of (service, instance, operation) or an edge."""

    service: str  # the service charged
    caller: str  # for edges: the calling service; "" for own spans
    instance: str  # own spans: the instance; edges: the caller's instance
    operation: str
    n_w: int
    n_b: int
    err_excess: float = 0.0
    err_z: float = 0.0
    err_rate_w: float = 0.0
    err_rate_b: float = 0.0
    lat_excess_ms: float = 0.0
    lat_z: float = 0.0
    p50_w_ms: float = 0.0
    p50_b_ms: float = 0.0
    p90_w_ms: float = 0.0
    p90_b_ms: float = 0.0
    new_versions: tuple[str, ...] = ()


@dataclass(slots=True)
class ServiceScore:
    service: str
    parts: list[Part] = field(default_factory=list)
    err_excess: float = 0.0
    lat_excess_ms: float = 0.0
    err_strength: float = 0.0
    lat_strength: float = 0.0
    metric_strength: float = 0.0
    metric_series: list[dict] = field(default_factory=list)
    log_strength: float = 0.0
    log_rules: list[dict] = field(default_factory=list)
    pressure: list[SeriesShift] = field(default_factory=list)  # its pods' resource gauges far above baseline
    pressure_strength: float = 0.0
    gaps: list[EdgeGap] = field(default_factory=list)  # calls into it slower on the caller's side only
    gap_strength: float = 0.0
    cut_off: list[SeriesShift] = field(default_factory=list)  # services it calls that stopped getting work
    cut_strength: float = 0.0
    failing: list[SeriesShift] = field(default_factory=list)  # its success/error-rate gauges worsened
    fail_strength: float = 0.0
    pattern_strength: float = 0.0  # its log templates that stopped or appeared (pipeline.rca.logpatterns)
    pattern_pod: str = ""  # the pod of its strongest own template change
    ends: TraceEnd | None = None  # requests now end early at it (pipeline.rca.trace_ends)
    end_strength: float = 0.0
    pods: tuple[str, ...] = ()  # the pods its own metrics came from
    silent: bool = False
    anomaly: float = 0.0
    score: float = 0.0
    discount: str = ""
    kind: str = "error"
    instance: str = ""
    operation: str = ""


def _ms(ns: float | None) -> float:
    return 0.0 if ns is None or math.isnan(ns) else ns / 1e6


def component_part(row: dict) -> Part:
    """Error and latency excess of one component row from queries.window.COMPONENTS."""
    peer = row["peer"]
    part = Part(service=peer or row["service"], caller=row["service"] if peer else "",
                instance=row["instance"], operation=row["name"], n_w=row["n_w"], n_b=row["n_b"])
    n_w, n_b = row["n_w"], row["n_b"]
    if n_w:
        # Baseline rate with a weak prior, so a component with a clean but short baseline is
        # not infinitely surprised by its first error.
        rate_b = (row["own_err_b"] + 0.5) / (n_b + 50)
        expected = n_w * rate_b
        part.err_excess = row["own_err_w"] - expected
        part.err_z = part.err_excess / math.sqrt(expected + 1.0)
        part.err_rate_w = row["own_err_w"] / n_w
        part.err_rate_b = row["own_err_b"] / n_b if n_b else 0.0
    qw, qb = row["self_q_w"], row["self_q_b"]
    if n_w and n_b >= 5 and len(qw) == 2 and len(qb) == 3:
        p50w, p90w, p50b, p90b = qw[0], qw[1], qb[0], qb[1]
        part.p50_w_ms, part.p90_w_ms, part.p50_b_ms, part.p90_b_ms = _ms(p50w), _ms(p90w), _ms(p50b), _ms(p90b)
        shift = max(p50w - p50b, 0.5 * (p90w - p90b))
        scale = max((p90b - p50b) / 1.28, 0.05 * p50b, 50_000.0)
        part.lat_z = (p50w - p50b) / (1.25 * scale / math.sqrt(n_w)) if n_w else 0.0
        part.lat_z = max(part.lat_z, (p90w - p90b) / (2.0 * scale / math.sqrt(max(1, n_w // 10))))
        rel = shift / max(p50b, 1.0)
        if shift >= _MIN_LAT_SHIFT_NS and rel >= _MIN_LAT_REL and part.lat_z >= _MIN_LAT_Z:
            part.lat_excess_ms = n_w * shift / 1e6
    if not peer and row.get("versions_w"):
        part.new_versions = tuple(sorted(v for v in row["versions_w"] if v and v not in (row.get("versions_b") or [])))
    return part


def metric_deviations(rows: list[dict]) -> dict[str, list[dict]]:
    """Per service: gauge series whose window departs from the baseline, strongest first."""
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["name"] in _SYMPTOM_METRICS or not r["service"]:
            continue
        if r.get("step", 0) >= COARSE_NS:
            # a coarse reading covers the interval before its stamp: those stamped up to a
            # minute after the window describe it, and a series without one there is missing
            # data (a reading a minute rarely falls inside a short window), not a silent pod
            r = {**r, "n_w": r["n_late"], "mean_w": r["mean_late"], "max_w": r["max_late"]}
            if not r["n_w"]:
                continue
        n_w, n_b = r["n_w"], r["n_b"]
        if n_b and not n_w:
            out[r["service"]].append({**r, "z": 50.0, "silent": True})
            continue
        if not n_w or n_b < 3:
            continue
        mean_b, sd_b = r["mean_b"], r["sd_b"] or 0.0
        scale = sd_b + 0.05 * abs(mean_b) + 1e-9
        z = max((r["mean_w"] - mean_b) / scale, 0.5 * (r["max_w"] - r["max_b"]) / scale)
        if z >= 3.0:
            out[r["service"]].append({**r, "z": round(z, 2), "silent": False})
    for lst in out.values():
        lst.sort(key=lambda d: -d["z"])
    return out


def rule_excess(rows: list[dict], signals: dict[str, str]) -> dict[str, list[dict]]:
    """Per service: rules with a resource or lifecycle signal that fire more in the window."""
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if signals.get(r["rule"]) not in _RESOURCE_RULE_SIGNALS or not r["service"]:
            continue
        excess = r["n_w"] - r["n_b"] * 0.1  # baseline is longer; a tenth is generous
        if r["n_w"] >= 2 and excess >= 2:
            out[r["service"]].append({**r, "signal": signals[r["rule"]], "excess": excess})
    return out


def _strength(effect: float, z: float, z_min: float) -> float:
    if z < z_min or effect <= 0:
        return 0.0
    return (1 - math.exp(-effect)) * min(1.0, (z - z_min + 1) / 4)


def score_services(components: list[dict], metrics: list[dict], rules: list[dict],
                   failures: list[dict], signals: dict[str, str],
                   mentions: list[dict] = (), user_ms: float = 0.0,
                   shifts: list[SeriesShift] = (), gaps: dict[str, list[EdgeGap]] | None = None,
                   patterns: Findings | None = None, ends: dict[str, TraceEnd] | None = None) -> list[ServiceScore]:
    """Every service with some anomaly, best candidate first.

    `user_ms` is the time all requests (root spans) in the window took: added self time
    that is a sliver of it (a 2 ms slower publish) is real but not what hurts users.
    `mentions` (queries.window.LOG_MENTIONS) tell how calls to a service failed as its callers
    logged it, for services whose failed calls carry no status message.
    `shifts` (pod_metrics) are robust per-pod metric readings and `gaps` (edge_gaps) the call
    edges whose time on the wire grew, by blamed service: a pod pinned far above its own
    baseline, or calls into a service that slowed on the caller's side only, are anomalies of their own, not just corroboration, because real metrics may be
    all there is (traces kept only around alerts, logs lost). `patterns` (logpatterns.find)
    are the log templates each service stopped or started logging: for a changed return value
    or a caught exception they may be the only evidence, so they are one more such signal, as
    are `ends` (trace_ends): the services at which requests now stop early.
    """
    by: dict[str, ServiceScore] = {}

    def get(name: str) -> ServiceScore:
        s = by.get(name)
        if s is None:
            s = by[name] = ServiceScore(name)
        return s

    spans_w: dict[str, int] = defaultdict(int)
    spans_b: dict[str, int] = defaultdict(int)
    edges: dict[tuple[str, str], int] = defaultdict(int)
    parts = _charge_slowed_calls([component_part(row) for row in components])
    for part in parts:
        if not part.caller:
            spans_w[part.service] += part.n_w
            spans_b[part.service] += part.n_b
        else:
            edges[(part.caller, part.service)] += part.n_w + part.n_b
        s = get(part.service)
        s.parts.append(part)
        if part.err_z >= _MIN_ERR_Z and part.err_excess > 0:
            s.err_excess += part.err_excess
        s.lat_excess_ms += part.lat_excess_ms
    total_err = sum(s.err_excess for s in by.values())
    total_lat = sum(s.lat_excess_ms for s in by.values())
    for s in by.values():
        sig = [p for p in s.parts if p.err_z >= _MIN_ERR_Z and p.err_excess > 0]
        if sig:
            n_w = sum(p.n_w for p in sig)
            rate_gain = s.err_excess / max(n_w, 1)
            z = s.err_excess / math.sqrt(sum(p.n_w * (p.err_rate_b + 0.001) for p in sig) + 1)
            s.err_strength = _strength(8 * rate_gain, z, _MIN_ERR_Z) * (0.5 + 0.5 * s.err_excess / total_err)
        lat_parts = [p for p in s.parts if p.lat_excess_ms > 0]
        if lat_parts:
            top = max(lat_parts, key=lambda p: p.lat_excess_ms)
            rel = (max(top.p50_w_ms - top.p50_b_ms, 0.5 * (top.p90_w_ms - top.p90_b_ms))) / max(top.p50_b_ms, 0.001)
            impact = min(1.0, s.lat_excess_ms / (_MIN_IMPACT * user_ms)) if user_ms > 0 else 1.0
            s.lat_strength = _strength(rel, top.lat_z, _MIN_LAT_Z) * (0.5 + 0.5 * s.lat_excess_ms / total_lat) * impact
        s.silent = spans_b.get(s.service, 0) >= 20 and spans_w.get(s.service, 0) == 0 and sum(
            p.n_w for p in s.parts if p.caller) >= 10
    for svc, series in metric_deviations(metrics).items():
        s = get(svc)
        s.metric_series = series[:5]
        top = series[0]
        s.metric_strength = 1.0 if top["silent"] else 1 - math.exp(-max(0.0, top["z"] - 3) / 6)
    for svc, lst in rule_excess(rules, signals).items():
        s = get(svc)
        s.log_rules = sorted(lst, key=lambda d: -d["excess"])
        s.log_strength = 1 - math.exp(-sum(d["excess"] for d in lst) / 5)
    metric_anomalies(shifts, gaps or {}, get)
    cut_off_callers(shifts, set(edges), get)
    slowed_leads(shifts, set(edges), get)
    for svc, st in (patterns.strength.items() if patterns else ()):
        s = get(svc)
        s.pattern_strength = st
        s.pattern_pod = next((c.instance for c in patterns.changes.get(svc, ()) if not c.via), "")
    for svc, end in (ends or {}).items():
        s = get(svc)
        s.ends, s.end_strength = end, end.strength
    for s in by.values():
        s.anomaly = max(s.err_strength, s.lat_strength, 0.8 if s.silent else 0.0, _weak_lead(s))
        # independent signals agreeing raise each other (noisy-OR), so a saturated pod whose
        # spans also slowed outranks a service with one loud signal
        s.anomaly = 1 - (1 - s.anomaly) * (1 - 0.9 * s.pressure_strength) * (1 - 0.9 * s.gap_strength) * (
            1 - 0.8 * s.cut_strength) * (1 - s.fail_strength) * (1 - 0.9 * s.end_strength)
    _discount_symptoms(by, edges)
    for s in by.values():
        s.score = 1 - (1 - s.anomaly) * (1 - 0.35 * s.metric_strength) * (1 - 0.25 * s.log_strength)
        _describe(s, failures, [m for m in mentions if m["peer"] == s.service], signals)
    ranked = [s for s in by.values() if s.score > 0.01]
    ranked.sort(key=lambda s: (-s.score, s.service))
    return ranked


def _charge_slowed_calls(parts: list[Part]) -> list[Part]:
    """Calls out that slowed are charged to the callee, unless the caller's calls slowed more
    completely than the callee's (pipeline.rca.blame): then the time is the caller's own
    (a CPU-starved caller is slow to send and to read every reply)."""
    slowed = {(p.caller, p.service) for p in parts if p.caller and p.lat_excess_ms > 0}
    if not slowed:
        return parts
    measured = {(p.caller, p.service) for p in parts if p.caller and p.n_w and p.n_b >= 5}
    to_caller = {edge for edge, (who, _) in blame(slowed, measured).items() if who == edge[0]}
    for p in parts:
        if (p.caller, p.service) in to_caller:
            p.service, p.caller = p.caller, ""
    return parts


def _weak_lead(s: ServiceScore) -> float:
    """A small score for failures too few to be significant, so that a quiet window still
    names where its handful of new errors came from (the answer says confidence is low)."""
    z = max((p.err_z for p in s.parts if p.err_excess >= 1), default=0.0)
    return min(0.15, 0.05 * z) if z >= 1.0 else 0.0


def _discount_symptoms(by: dict[str, ServiceScore], edges: dict[tuple[str, str], int]) -> None:
    """Halve a service whose anomaly a stronger anomaly below it in the call graph explains,
    then add its log-template changes, halved in the same way when a service below it changed
    (or is anomalous) at least as much: a caller's "call failed" lines are its callee's doing.
    Both are judged on the anomalies before either discount."""
    calls: dict[str, set[str]] = defaultdict(set)
    for caller, callee in edges:
        if caller != callee:
            calls[caller].add(callee)

    def below(svc: str) -> set[str]:
        seen, todo = set(), [svc]
        while todo:
            for nxt in calls.get(todo.pop(), ()):
                if nxt not in seen and nxt != svc:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    base = {name: s.anomaly for name, s in by.items()}
    for name, s in by.items():
        under = below(name)
        worst = max(((base.get(d, 0.0), d) for d in under), default=(0.0, ""))
        if base[name] and worst[0] >= 0.8 * base[name]:
            s.anomaly = base[name] * 0.5
            s.discount = worst[1]
        if s.pattern_strength:
            rival = max(((max(base.get(d, 0.0), by[d].pattern_strength if d in by else 0.0), d) for d in under),
                        default=(0.0, ""))
            pattern = s.pattern_strength
            if rival[0] >= 0.8 * pattern:
                pattern *= 0.5
                s.discount = s.discount or rival[1]
            s.anomaly = 1 - (1 - s.anomaly) * (1 - pattern)


def _describe(s: ServiceScore, failures: list[dict], mentions: list[dict], signals: dict[str, str]) -> None:
    """Kind, instance and operation of a service candidate, from where its anomaly lives."""
    own = [p for p in s.parts if not p.caller]
    edge = [p for p in s.parts if p.caller]
    weight = {id(p): max(p.err_excess, 0) * 50 + p.lat_excess_ms for p in s.parts}
    top = max(s.parts, key=lambda p: weight[id(p)], default=None)
    if top is not None and weight[id(top)] > 0:
        s.operation = top.operation
    own_w = defaultdict(float)
    for p in own:
        own_w[p.instance] += weight[id(p)]
    total_own = sum(own_w.values())
    if total_own > 0:
        inst, w = max(own_w.items(), key=lambda kv: kv[1])
        if w >= 0.7 * total_own and inst:
            s.instance = inst
    if not s.instance and s.pressure:
        s.instance = s.pressure[0].pod
    if not s.instance and s.pattern_pod:
        s.instance = s.pattern_pod
    if not s.instance and len(s.pods) == 1:
        s.instance = s.pods[0]
    if not s.instance and s.metric_series and s.metric_strength >= 0.5:
        insts = {m["instance"] for m in s.metric_series if m["z"] >= 0.5 * s.metric_series[0]["z"]}
        if len(insts) == 1:
            s.instance = next(iter(insts))
    msgs = [f for f in failures if f["peer"] == s.service]
    refused = sum(f["n"] for f in msgs if any(w in f["message"].lower() for w in _REFUSED_WORDS))
    reset = sum(f["n"] for f in msgs if any(w in f["message"].lower() for w in _NETWORK_WORDS))
    refused += sum(m["n"] for m in mentions if signals.get(m["rule"]) == "dependency" and m["rule"] != "timeout")
    reset += sum(m["n"] for m in mentions if signals.get(m["rule"]) == "network")
    edge_anom = sum(weight[id(p)] for p in edge)
    own_anom = sum(weight[id(p)] for p in own)
    res_metric = any(m["name"].startswith(("process.cpu", "process.memory", "runtime.gc", "db.client.connections"))
                     and not m["silent"] and m["z"] >= 6 and _resource_level(m) for m in s.metric_series)
    if any(p.new_versions and weight[id(p)] > 0 for p in own):
        s.kind = "deploy"
    elif s.pattern_strength >= 0.5 and max(s.err_strength, s.lat_strength, s.pressure_strength, s.gap_strength,
                                           s.metric_strength, 0.8 if s.silent else 0.0) < 0.3:
        s.kind = "error"  # only its log lines changed: a changed result, a caught exception
    elif s.silent or refused > max(reset, 0) and refused >= 3:
        s.kind = "resource" if res_metric or s.log_strength >= 0.5 else "dependency"
    elif reset >= 3 or (own and edge_anom > 3 * own_anom and edge_anom > 0) or (not own and _one_slow_link(edge, weight)):
        s.kind = "network"
    elif s.gap_strength > max(s.pressure_strength, s.err_strength, 0.5):
        s.kind = "network"
    elif res_metric or s.log_strength >= 0.5 or s.pressure_strength >= max(0.5, s.err_strength):
        s.kind = "resource"
    elif s.err_strength >= s.lat_strength and s.err_strength > 0 or max(
            s.cut_strength, s.fail_strength, s.end_strength) >= max(0.5, s.lat_strength):
        s.kind = "error"
    elif s.lat_strength > 0:
        s.kind = "latency"
    elif s.metric_strength > 0:
        s.kind = "resource"


def _one_slow_link(edge: list[Part], weight: dict[int, float]) -> bool:
    """For a service seen only through its callers: one caller's calls slowed while another
    caller's calls, with as much traffic, did not. The service itself is then fine; the link is not."""
    by_caller: dict[str, list[Part]] = defaultdict(list)
    for p in edge:
        by_caller[p.caller].append(p)
    if len(by_caller) < 2:
        return False
    anom = {c: sum(weight[id(p)] for p in ps) for c, ps in by_caller.items()}
    total = sum(anom.values())
    if total <= 0:
        return False
    worst = max(anom, key=anom.get)
    calm = [c for c in by_caller if c != worst and sum(p.n_w for p in by_caller[c]) >= 30
            and all(p.lat_z < 2 for p in by_caller[c])]
    return anom[worst] >= 0.9 * total and bool(calm)


def _resource_level(m: dict) -> bool:
    """A resource metric deviates in a way that means pressure, not just change."""
    name = m["name"]
    if name == "process.cpu.utilization":
        return m["mean_w"] >= 0.7 or m["max_w"] >= 0.85
    return True
