"""A trace as waterfall rows: tree order, depth, bar geometry and error flags.

The bars use the stored (skew-corrected) start/end, so a child drawn outside its parent means
the correction was bounded or absent, which is itself worth seeing; the per-span offset that
was applied is shown beside it.
"""

from __future__ import annotations

MS = 1_000_000
_MIN_BAR_PCT = 0.15  # a sub-pixel span still gets a visible sliver


def _is_error(span: dict) -> bool:
    return bool(span["is_error"]) if "is_error" in span else span.get("status") == "error"


def _tree_order(spans: list[dict]) -> list[tuple[dict, int]]:
    """(span, depth) depth-first, children by start time; spans whose parent is not in the
    trace are roots. Each span is visited once even if bad data makes the parent links cycle."""
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[dict]] = {}
    roots = []
    for s in sorted(spans, key=lambda s: (s["start_ns"], s["span_id"])):
        parent = s.get("parent_span_id") or ""
        if parent in ids and parent != s["span_id"]:
            children.setdefault(parent, []).append(s)
        else:
            roots.append(s)
    out: list[tuple[dict, int]] = []
    seen: set[str] = set()
    stack = [(s, 0) for s in reversed(roots)]
    while stack:
        s, depth = stack.pop()
        if s["span_id"] in seen:
            continue
        seen.add(s["span_id"])
        out.append((s, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(s["span_id"], [])))
    # Spans caught in a parent cycle are reachable from no root: list them last, flat.
    out.extend((s, 0) for s in spans if s["span_id"] not in seen)
    return out


def waterfall(trace: dict) -> dict:
    """Rows and a time axis for the trace JSON of `GET /v1/traces/{id}`.

    `own_error` (an error no child explains) is taken from the span when the store supplies it,
    else derived the same way: an erroring span none of whose children errs."""
    spans = trace["spans"]
    t0 = min(s["start_ns"] for s in spans)
    t1 = max(s["end_ns"] for s in spans)
    total = max(1, t1 - t0)
    erring_parents = {s.get("parent_span_id") for s in spans if _is_error(s)}
    rows = []
    for s, depth in _tree_order(spans):
        err = _is_error(s)
        own = bool(s["own_error"]) if "own_error" in s else err and s["span_id"] not in erring_parents
        left = min(100.0 * (s["start_ns"] - t0) / total, 100.0 - _MIN_BAR_PCT)
        width = max(_MIN_BAR_PCT, min(100.0 * (s["end_ns"] - s["start_ns"]) / total, 100.0 - left))
        rows.append({
            "span": s, "depth": depth, "is_error": err, "own_error": own and err,
            "left_pct": round(left, 3), "width_pct": round(width, 3),
            "offset_ms": (s["start_ns"] - t0) / MS, "duration_ms": (s["end_ns"] - s["start_ns"]) / MS,
            "skew_ms": s.get("clock_offset_ns", 0) / MS,
        })
    ticks = [{"pct": 25.0 * i, "ms": total * i / 4 / MS} for i in range(5)]
    return {"t0_ns": t0, "t1_ns": t1, "duration_ms": total / MS, "rows": rows, "ticks": ticks,
            "services": sorted({s["service"] for s in spans}),
            "errors": sum(r["is_error"] for r in rows), "own_errors": sum(r["own_error"] for r in rows)}
