"""Where requests now stop: traces that end early, and the service they end at.

A changed return value or a caught exception raises no error and adds no latency, but the
request it hits is cut short: the caller gives up after the bad answer and never makes the
calls that would have followed. In the traces this shows as many more requests than usual
ending at one service (the last span a trace starts is there, or is a call to it) while those
traces hold far fewer spans than requests used to. A service that stops calling its children
itself ends its traces at itself; a callee whose answers make its caller give up ends them at
the callee. Either way the place the traces end is the suspect, not the callees that stopped
getting work (pipeline/rca/pod_metrics.starved) nor the entry service whose success rate fell.

Traces are grouped by id without FINAL: a replayed span is a twin under the same id, which
changes neither the last span started nor the count of distinct spans. The baseline is the
last ten minutes before the window (the shares of where traces end are steady; a longer scan
would cost every question without changing them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.rca.source import Rows
from pipeline.store.queries.rca import TRACE_ENDS
from pipeline.store.queries.window import Period

BASELINE_NS = 10 * 60 * 10**9
_PAD_NS = 60 * 10**9  # stored start stamps may differ from skew-corrected ones by this much
_MIN_TRACES_B = 100
_MIN_TRACES_W = 30
_MIN_RISE = 0.2  # of all traces, ending there in the window over the baseline's share
_MIN_Z = 5.0
_SHORT = 0.5  # the traces ending there hold at most this share of the baseline's spans per trace



@dataclass(slots=True)
class TraceEnd:
    """More of the window's traces end at `service` than before, and they are short."""

    service: str
    share_w: float  # of the window's traces, ending here
    share_b: float
    traces_w: int
    spans_w: float  # mean spans of the window's traces that end here
    spans_b: float  # mean spans of all baseline traces
    z: float
    strength: float

    def summary(self) -> str:
        return (f"requests now end at {self.service}: {self.share_w:.0%} of {self.traces_w} traces in the window "
                f"stop there (baseline {self.share_b:.0%}), with {self.spans_w:.1f} spans each where the baseline's "
                f"traces had {self.spans_b:.1f} (the calls after it are no longer made)")


def fetch(src: Rows, period: Period) -> list[dict]:
    """TRACE_ENDS rows for `period`'s window and the last ten minutes of its baseline."""
    ef = max(period.base_from_ns, period.base_to_ns - BASELINE_NS)
    if ef >= period.base_to_ns:
        return []
    return src.rows(TRACE_ENDS, {**period.params(), "ef": ef, "pad": _PAD_NS})


def trace_ends(rows: list[dict]) -> dict[str, TraceEnd]:
    """Per service: where the window's traces now end early (pure, for tests)."""
    tot = {0: 0, 1: 0}
    spans_b = 0.0
    by: dict[str, dict[int, tuple[int, float]]] = {}
    for r in rows:
        w = int(bool(r["in_window"]))
        tot[w] += r["traces"]
        if not w:
            spans_b += r["traces"] * r["spans"]
        by.setdefault(r["end_service"], {})[w] = (r["traces"], r["spans"])
    if tot[0] < _MIN_TRACES_B or tot[1] < _MIN_TRACES_W:
        return {}
    mean_b = spans_b / tot[0]
    out = {}
    for svc, d in by.items():
        n_w, sp_w = d.get(1, (0, 0.0))
        n_b = d.get(0, (0, 0.0))[0]
        share_w, share_b = n_w / tot[1], (n_b + 1) / (tot[0] + 2)
        rise = share_w - share_b
        z = rise / math.sqrt(share_b * (1 - share_b) / tot[1])
        if rise < _MIN_RISE or share_w < 2 * share_b or z < _MIN_Z or sp_w > _SHORT * mean_b:
            continue
        strength = min(1.0, rise / 0.4) * (1 - sp_w / mean_b)
        out[svc] = TraceEnd(svc, share_w, n_b / tot[0], n_w, sp_w, mean_b, z, round(strength, 4))
    return out
