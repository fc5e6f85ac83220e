"""Layout of the window's call graph for an inline SVG: callers left, callees right.

Each service sits in the column of its longest call path from an entry point (a service
nobody calls), so a fault deep in the graph is drawn where it is, not beside the frontend.
"""

from __future__ import annotations

NODE_W, NODE_H = 130, 38
COL_GAP, ROW_GAP, MARGIN = 56, 14, 10
# An edge is drawn as "hot" when its error rate rose by this much, or its median latency
# grew by this factor, against the baseline period.
HOT_ERROR_RISE = 0.05
HOT_LATENCY_FACTOR = 1.5


def _columns(names: list[str], edges: list[dict]) -> dict[str, int]:
    col = dict.fromkeys(names, 0)
    # Longest-path relaxation, at most len(names) rounds, so a cycle cannot loop forever.
    for _ in range(len(names)):
        changed = False
        for e in edges:
            if e["caller"] != e["callee"] and col[e["callee"]] < col[e["caller"]] + 1 <= len(names) - 1:
                col[e["callee"]] = col[e["caller"]] + 1
                changed = True
        if not changed:
            break
    return col


def _hot(e: dict) -> bool:
    rise = (e.get("error_rate") or 0.0) - (e.get("baseline_error_rate") or 0.0)
    p50, base = e.get("p50_ms"), e.get("baseline_p50_ms")
    slower = bool(p50 and base and p50 > HOT_LATENCY_FACTOR * base)
    return rise >= HOT_ERROR_RISE or slower


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} ms"


def _describe(e: dict) -> str:
    return (f"{e['caller']} -> {e['callee']}: {e.get('calls', 0)} calls, errors {_pct(e.get('error_rate'))} "
            f"(baseline {_pct(e.get('baseline_error_rate'))}), p50 {_ms(e.get('p50_ms'))} "
            f"(baseline {_ms(e.get('baseline_p50_ms'))})")


def layout(graph: dict) -> dict:
    """Boxes and edge paths for `graph` ({"nodes": [...], "edges": [...]} of the ranking):
    `{"width", "height", "nodes": [{..node, x, y}], "edges": [{..edge, path, hot, label_x, label_y}]}`."""
    nodes = {n["service"]: dict(n) for n in graph.get("nodes", [])}
    edges = list(graph.get("edges", []))
    for e in edges:  # a service seen only on an edge still gets a box
        for name in (e["caller"], e["callee"]):
            nodes.setdefault(name, {"service": name, "score": 0.0, "suspect": False})
    col = _columns(sorted(nodes), edges)
    rows: dict[int, list[str]] = {}
    for name in sorted(nodes, key=lambda n: (col[n], -(nodes[n].get("score") or 0.0), n)):
        rows.setdefault(col[name], []).append(name)
    for c, names in rows.items():
        for r, name in enumerate(names):
            nodes[name]["x"] = MARGIN + c * (NODE_W + COL_GAP)
            nodes[name]["y"] = MARGIN + r * (NODE_H + ROW_GAP)
    drawn = []
    for e in edges:
        a, b = nodes[e["caller"]], nodes[e["callee"]]
        x1, y1 = a["x"] + NODE_W, a["y"] + NODE_H / 2
        x2, y2 = b["x"], b["y"] + NODE_H / 2
        if x2 > x1:
            bend = (x2 - x1) / 2
            path = f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        else:  # same column or backwards: loop under the boxes
            low = max(a["y"], b["y"]) + NODE_H + ROW_GAP
            path = f"M{x1:.0f},{y1:.0f} C{x1 + 40:.0f},{low:.0f} {x2 - 40:.0f},{low:.0f} {x2:.0f},{y2:.0f}"
        hot = _hot(e)
        label = f"{_pct(e.get('error_rate'))} err, p50 {_ms(e.get('p50_ms'))}" if hot else ""
        drawn.append({**e, "path": path, "hot": hot, "label": label, "title": _describe(e),
                      "label_x": (x1 + x2) / 2, "label_y": (y1 + y2) / 2 - 4})
    width = MARGIN * 2 + (max(rows, default=0) + 1) * (NODE_W + COL_GAP) - COL_GAP
    height = MARGIN * 2 + max((len(v) for v in rows.values()), default=1) * (NODE_H + ROW_GAP) + ROW_GAP
    ordered = sorted(nodes.values(), key=lambda n: n["service"])
    return {"width": width, "height": height, "nodes": ordered, "edges": drawn,
            "node_w": NODE_W, "node_h": NODE_H}
