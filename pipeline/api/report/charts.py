"""The suspect's metric charts for the window view: its series over baseline + window.

Metrics the ranking cites as evidence come first, then the rest of what the suspect reports,
so the chart that explains the rank is the first one read.
"""

from __future__ import annotations

from pipeline.api.reads import Reader
from pipeline.api.report.sparkline import sparkline
from pipeline.api.series import metric_series

MAX_CHARTS = 8
POINTS = 240


def suspect_charts(reader: Reader, ranking: dict) -> list[dict]:
    """Sparklines for the top candidate's metrics (its instance, or every instance of its
    service when the candidate names none), from the baseline start to the window end."""
    if not ranking.get("candidates"):
        return []
    top = ranking["candidates"][0]
    lo = (ranking.get("baseline") or {}).get("from_ns") or ranking["from_ns"]
    lo = min(lo, ranking["from_ns"])
    hi = ranking["to_ns"]
    series = metric_series(reader, top["service"], lo, hi, top.get("instance") or None, None, POINTS)
    by_name: dict[str, list[dict]] = {}
    for s in series:
        by_name.setdefault(s["name"], []).append(s)
    cited = [(e.get("ref") or {}).get("metric") for e in top.get("evidence", []) if e.get("signal") == "metric"]
    order = list(dict.fromkeys([m for m in cited if m in by_name] + sorted(by_name)))
    return [sparkline(name, by_name[name], lo, ranking["from_ns"], hi) for name in order[:MAX_CHARTS]]
