"""Small inline-SVG line charts of a metric across the baseline period and the window.

The baseline part of the x axis is shaded and its mean drawn as a dashed line, so "how far
from normal" reads at a glance without axes; the exact means are printed beside the chart.
"""

from __future__ import annotations

import math

WIDTH, HEIGHT, PAD = 280, 56, 3
COLOURS = ("#2563eb", "#d97706", "#059669", "#7c3aed")


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def sparkline(name: str, series: list[dict], from_ns: int, split_ns: int, to_ns: int) -> dict:
    """Chart geometry for one metric: `series` are `{"instance", "points": [[t, v], ...]}`
    (one line each, at most len(COLOURS)), `[from_ns, split_ns)` the baseline period and
    `[split_ns, to_ns]` the window."""
    series = series[:len(COLOURS)]
    span = max(1, to_ns - from_ns)
    values = [v for s in series for _, v in s["points"] if math.isfinite(v)]
    vmin, vmax = (min(values), max(values)) if values else (None, None)
    lo, hi = (vmin, vmax) if values else (0.0, 1.0)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):  # a flat line sits in the middle
        lo, hi = lo - 1.0, hi + 1.0

    def x(t: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * min(1.0, max(0.0, (t - from_ns) / span))

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - lo) / (hi - lo)

    lines = []
    for colour, s in zip(COLOURS, series):
        pts = [(x(t), y(v)) for t, v in s["points"] if math.isfinite(v)]
        lines.append({"instance": s["instance"], "colour": colour,
                      "points": " ".join(f"{px:.1f},{py:.1f}" for px, py in pts), "single": len(pts) == 1,
                      "first": pts[0] if pts else None})
    base = _mean([v for s in series for t, v in s["points"] if t < split_ns])
    window = _mean([v for s in series for t, v in s["points"] if t >= split_ns])
    return {"name": name, "width": WIDTH, "height": HEIGHT, "lines": lines,
            "split_x": x(split_ns), "base_mean": base, "window_mean": window,
            "base_y": y(base) if base is not None else None, "min": vmin, "max": vmax, "points": sum(len(s["points"]) for s in series)}
