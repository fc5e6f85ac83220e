"""Log-pattern evidence: templates an instance stopped logging, or started logging, in the window.

A changed return value or a caught exception sets no error status and adds no latency; what
changes is the mix of log lines. Per (service, instance, template) the window's count is
compared with what the baseline predicts, both ways:

- **stopped**: a template the instance logged in nearly every baseline minute is (almost)
  absent from the window;
- **appeared**: a template the baseline (almost) never had is logged many times in the window.

Counts are normalised by the instance's traffic: where its spans tell its load, a template's
baseline lines per minute are scaled by the window's requests per minute over the baseline's;
otherwise by its share of the lines of the instance's *other steady* templates (those logged
in nearly every baseline minute), so a template that replaces another moves neither's
yardstick; an instance with too few of those (one line per request, say) is measured by the
clock. The baseline is read per minute from `log_template_minutes` (schemas/006) and
summarised robustly over the minutes that hold data (median; a trimmed mean), so an earlier
incident in a few baseline minutes neither hides a template's disappearance nor makes a
recurring one look new; minutes without any line of the instance are missing data, not zeros.
A baseline holding less than five minutes of logs is read from `logs` in 10 s slices instead;
the window is read from `logs` at full time resolution. A change must be rarer than 1 in 10^4
by chance (Poisson tail), so a normal window shows none.

A warning or error that appeared on a caller and names a service it calls also counts for that
service (a database or a dead pod writes no line of its own). The per-service strength is one
more independent signal in the ranking's noisy-OR (pipeline/rca/score.py), so the span ranking's
topology discount applies to it too: a caller whose changed lines a comparably strong anomaly
below it explains is halved.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pipeline.rca.answer import Candidate, Evidence
from pipeline.rca.source import Rows
from pipeline.store.queries.log_templates import TEMPLATES_BASELINE, TEMPLATES_BASELINE_SHORT, TEMPLATES_WINDOW
from pipeline.store.queries.window import Period

MINUTE_NS = 60_000_000_000
# A baseline holding fewer minutes of logs than this is read from `logs` in 10 s slices instead.
_MIN_AGGREGATE_MINUTES = 5
SHORT_SLICE_NS = 10_000_000_000
_MIN_BASE_SLICES = 3
_MIN_YARDSTICK = 3  # other steady lines per baseline slice needed to normalise by them
_MIN_BASE_SPANS = 20  # baseline spans of an instance needed to measure its load by them
_STOP_PRESENCE = 0.8  # share of baseline minutes a template must appear in to "stop"
# A window holds a few hundred (pod, template) pairs: a change must be rarer than 1 in 10^4 by
# chance (Poisson tail, in nats) for a window to show a false one only now and then.
_MIN_SURPRISE = math.log(1e4)
_APPEAR_MIN_LINES = 8
_APPEAR_FLOOR = 0.5  # expected lines of a template never seen: not zero, it may be rare
_TRIM = 0.1  # share of the highest baseline minutes left out of the appearing template's rate
_WARN = 13  # OTLP severity number of WARN: callers' failure lines are warnings or errors

@dataclass(slots=True)
class Change:
    """One template whose frequency on one instance moved."""

    service: str
    instance: str
    template_id: str
    template: str
    way: str  # "stopped" | "appeared"
    window_lines: int
    window_per_min: float
    baseline_per_min: float
    expected: float
    strength: float
    via: str = ""  # set when the line is a caller's (`service` is the one its text names)
    severity: int = 0  # highest OTLP severity number among its lines in the window

    def evidence(self) -> Evidence:
        where = self.instance or self.service
        if self.via:
            text = (f"{self.via} calls it and started logging `{self.template}`: {self.window_lines} lines in "
                    f"the window against {self.baseline_per_min:.2g}/min in the baseline on {where}")
        elif self.way == "stopped":
            text = (f"`{self.template}` stopped: {self.baseline_per_min:.4g}/min in the baseline, "
                    f"{self.window_per_min:.4g}/min in the window on {where} ({self.window_lines} lines "
                    f"where {self.expected:.0f} were expected)")
        else:
            text = (f"`{self.template}` appeared: {self.window_lines} lines in the window "
                    f"({self.window_per_min:.4g}/min) against {self.baseline_per_min:.2g}/min in the baseline "
                    f"on {where}")
        return Evidence("log", text, {"service": self.via or self.service, "instance": self.instance,
                                      "template_id": self.template_id, "template": self.template,
                                      "change": self.way, "window_lines": self.window_lines,
                                      "expected_lines": round(self.expected, 1)})


@dataclass(slots=True)
class Findings:
    """Per service: its template changes, strongest first, and their combined strength."""

    changes: dict[str, list[Change]] = field(default_factory=dict)
    strength: dict[str, float] = field(default_factory=dict)
    credited: bool = False  # callers' lines already counted for the services they name

    def evidence(self, service: str, limit: int = 3) -> list[Evidence]:
        """The strongest change each way first (what stopped and what replaced it), then the rest."""
        lst = self.changes.get(service, [])
        firsts = [next(c for c in lst if c.way == way) for way in ("stopped", "appeared")
                  if any(c.way == way for c in lst)]
        rest = [c for c in lst if all(c is not f for f in firsts)]
        return [c.evidence() for c in (sorted(firsts, key=lambda c: -c.strength) + rest)[:limit]]


def find(src: Rows, period: Period, traffic: dict[tuple[str, str], float] | None = None) -> Findings:
    """Template changes in `period`'s window against its baseline (a `Period`);
    `traffic` (see `traffic`) scales what the baseline predicts per (service, instance)."""
    window_min = (period.to_ns - period.from_ns) / MINUTE_NS
    first = -(-period.base_from_ns // MINUTE_NS) * MINUTE_NS  # whole minutes inside the baseline
    last = period.base_to_ns // MINUTE_NS * MINUTE_NS
    base = src.rows(TEMPLATES_BASELINE, {"sf": first, "st": last}) if last > first else []
    stored = {m for r in base for m in r["slices"]}
    slice_min = 1.0
    if len(stored) < _MIN_AGGREGATE_MINUTES:  # a short history: finer slices of what there is
        since = max(period.base_from_ns, min(stored, default=period.base_from_ns))
        first = -(-since // SHORT_SLICE_NS) * SHORT_SLICE_NS
        last = period.base_to_ns // SHORT_SLICE_NS * SHORT_SLICE_NS
        if last - first < MINUTE_NS:
            return Findings()
        base = src.rows(TEMPLATES_BASELINE_SHORT, {"sf": first, "st": last, "slice": SHORT_SLICE_NS})
        slice_min = SHORT_SLICE_NS / MINUTE_NS
    return changes(src.rows(TEMPLATES_WINDOW, period.params()), base, window_min, slice_min, traffic)


def traffic(components: list[dict], period: Period) -> dict[tuple[str, str], float]:
    """Per (service, instance): requests per minute in the window over those in the baseline,
    from its own spans (COMPONENTS rows over `period`); instances with too few
    baseline spans to tell are left out."""
    base_min = (period.base_to_ns - period.base_from_ns) / MINUTE_NS
    win_min = (period.to_ns - period.from_ns) / MINUTE_NS
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in components:
        if not r["peer"]:
            c = counts[(r["service"], r["instance"])]
            c[0] += r["n_w"]
            c[1] += r["n_b"]
    if base_min <= 0 or win_min <= 0:
        return {}
    return {k: (n_w / win_min) / (n_b / base_min) for k, (n_w, n_b) in counts.items() if n_b >= _MIN_BASE_SPANS}


def changes(window: list[dict], base: list[dict], window_min: float, slice_min: float = 1.0,
            traffic: dict[tuple[str, str], float] | None = None) -> Findings:
    """The template changes, from TEMPLATES_WINDOW and TEMPLATES_BASELINE rows (pure, for tests); baseline slices
    are `slice_min` minutes long; `traffic` as for `find`."""
    # Per instance: the slices that hold any line, and its yardstick: the lines of its steady
    # templates (logged in nearly every baseline slice), per slice and in the window.
    slices: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r in base:
        slices[(r["service"], r["instance"])].update(r["slices"])
    steady = {(r["service"], r["instance"], r["template_id"]) for r in base
              if len(r["slices"]) >= _STOP_PRESENCE * len(slices[(r["service"], r["instance"])])}
    yard: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for r in base:
        if (r["service"], r["instance"], r["template_id"]) in steady:
            y = yard[(r["service"], r["instance"])]
            for m, n in zip(r["slices"], r["counts"]):
                y[m] += n
    yard_w: dict[tuple[str, str], int] = defaultdict(int)
    for r in window:
        if (r["service"], r["instance"], r["template_id"]) in steady:
            yard_w[(r["service"], r["instance"])] += r["n"]
    by_key = {(r["service"], r["instance"], r["template_id"]): r for r in base}
    n_w = {(r["service"], r["instance"], r["template_id"]): r["n"] for r in window}
    sev = {(r["service"], r["instance"], r["template_id"]): r["severity"] for r in window}
    templates = {k: r["template"] for k, r in by_key.items()} | {
        (r["service"], r["instance"], r["template_id"]): r["template"] for r in window}
    # Most instances writing no line at all in the window is a gap in log collection, not every
    # template stopping at once: those instances' logs are missing data. (One pod going quiet
    # while the others log is a change, and its spans or callers say more.)
    logged = {(r["service"], r["instance"]) for r in window if r["n"]}
    quiet = {i for i in slices if len(slices[i]) >= _MIN_BASE_SLICES and i not in logged}
    missing = quiet if 2 * len(quiet) > len([i for i in slices if len(slices[i]) >= _MIN_BASE_SLICES]) else set()
    found: dict[str, list[Change]] = defaultdict(list)
    for key, template in templates.items():
        inst = key[:2]
        if len(slices.get(inst, ())) < _MIN_BASE_SLICES or window_min <= 0 or inst in missing:
            continue  # an instance without a baseline of its own (or logs): nothing to compare with
        r = by_key.get(key)
        own = dict(zip(r["slices"], r["counts"])) if r else {}
        mine = key in steady
        n = n_w.get(key, 0)
        y = yard[inst]
        others = sorted(y.get(m, 0) - (own.get(m, 0) if mine else 0) for m in slices[inst])
        per_min = sorted(own.get(m, 0) / slice_min for m in slices[inst])
        load = (traffic or {}).get(inst)
        if load is not None:  # requests served, from its spans: lines per minute, scaled by the load
            ratios, yw = per_min, window_min * load
        elif _median(others) >= _MIN_YARDSTICK:
            ratios = sorted(own.get(m, 0) / max(y.get(m, 0) - (own.get(m, 0) if mine else 0), 1)
                            for m in slices[inst])
            yw = yard_w.get(inst, 0) - (n if mine else 0)
        else:  # too few other steady lines to measure traffic by: lines per minute, by the clock
            ratios, yw = per_min, window_min
        c = _judge(key, template, n, mine, ratios, per_min, yw, window_min)
        if c is not None:
            c.severity = sev.get(key, 0)
            found[c.service].append(c)
    out = Findings()
    for svc, lst in found.items():
        lst.sort(key=lambda c: (-c.strength, c.template_id))
        out.changes[svc] = lst
        out.strength[svc] = 1 - math.prod(1 - c.strength for c in lst[:3])
    return out


def _judge(key: tuple[str, str, str], template: str, n_w: int, steady: bool, ratios: list[float],
           per_min: list[float], yard_w: float, window_min: float) -> Change | None:
    """One template on one instance: `ratios` are its baseline minutes' lines over the yardstick
    (sorted), `per_min` its rate per minute in each baseline slice (sorted), `yard_w` the window's
    yardstick."""
    svc, inst, tid = key
    if steady:
        expected = _median(ratios) * yard_w
        surprise = _surprise(n_w, expected)
        if n_w <= 0.5 * expected and surprise >= _MIN_SURPRISE:
            strength = (1 - math.exp(-expected / 15)) * (1 - n_w / expected) * _confidence(surprise)
            return Change(svc, inst, tid, template, "stopped", n_w, n_w / window_min, _median(per_min),
                          expected, round(strength, 4))
        return None
    # A mean without the busiest slices (an earlier incident there hides nothing), but never
    # below half the plain mean (a rare line's few slices are not all an incident).
    keep = ratios[:max(1, math.ceil(len(ratios) * (1 - _TRIM)))]
    expected = max(sum(keep) / len(keep), 0.5 * sum(ratios) / len(ratios)) * yard_w
    surprise = _surprise(n_w, max(expected, _APPEAR_FLOOR))
    if n_w >= _APPEAR_MIN_LINES and n_w > 3 * expected + 2 and surprise >= _MIN_SURPRISE:
        share = n_w / max(n_w + yard_w, 1)
        strength = (1 - math.exp(-(n_w - expected) / 10)) * _confidence(surprise) \
            * (0.6 + 0.4 * min(1.0, 20 * share))
        return Change(svc, inst, tid, template, "appeared", n_w, n_w / window_min, sum(per_min) / len(per_min),
                      expected, round(strength, 4))
    return None


def _surprise(n: int, expected: float) -> float:
    """How unlikely n lines are where `expected` were, in nats: the Chernoff bound on either
    Poisson tail, -ln P <= expected - n + n ln(n / expected)."""
    if expected <= 0:
        return 0.0
    return expected - n + (n * math.log(n / expected) if n else 0.0)


def _confidence(surprise: float) -> float:
    return min(1.0, surprise / 30)


def _median(xs: list[float]) -> float:
    """Median of a sorted list."""
    n = len(xs)
    return (xs[n // 2] + xs[(n - 1) // 2]) / 2 if n else 0.0


def credit_named_callees(found: Findings, below: Callable[[str], set[str]]) -> None:
    """Add, to each service a caller's new warning or error line names ("call to postgres
    failed: connection refused"), that line as a change of its own (once): a database or a dead
    pod writes no line of its own. `below(service)`: what the service calls, directly or not."""
    if found.credited:
        return
    found.credited = True
    credit: dict[str, list[Change]] = defaultdict(list)
    named: set[tuple[str, str]] = set()  # (caller, template) credited to a callee
    for svc, lst in found.changes.items():
        callees = below(svc) - {svc}
        for c in lst:
            if c.way != "appeared" or c.via or c.severity < _WARN:
                continue
            for d in callees:  # the name itself, not a part of a path, host or class name
                if re.search(rf"(?<![\w\-/.]){re.escape(d)}(?![\w\-/.])", c.template):
                    credit[d].append(replace(c, service=d, via=svc, strength=round(0.9 * c.strength, 4)))
                    named.add((svc, c.template_id))
    # the caller's own copy of a line credited to its callee is a symptom: it counts half
    for svc in {svc for svc, _ in named}:
        lst = [replace(c, strength=round(0.5 * c.strength, 4)) if (svc, c.template_id) in named else c
               for c in found.changes[svc]]
        found.changes[svc] = sorted(lst, key=lambda c: (-c.strength, c.template_id))
        found.strength[svc] = 1 - math.prod(1 - c.strength for c in found.changes[svc][:3])
    for d, lst in credit.items():
        mine = found.changes.setdefault(d, [])
        mine.extend(lst)
        mine.sort(key=lambda c: (-c.strength, c.template_id))
        found.strength[d] = 1 - math.prod(1 - c.strength for c in mine[:3])


def attach(candidate: Candidate, found: Findings) -> None:
    """Add a candidate's log-pattern evidence (first when it is what ranks the candidate)."""
    ev = found.evidence(candidate.service)
    if not ev:
        return
    if found.strength.get(candidate.service, 0.0) >= 0.5 * candidate.score:
        candidate.evidence[:0] = ev
    else:
        candidate.evidence.extend(ev)

