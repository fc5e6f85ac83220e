"""The report pages' pure parts: waterfall rows, call-graph layout, sparklines, formatting."""

from __future__ import annotations

import pytest

from pipeline.api.report.graph import NODE_W, layout
from pipeline.api.report.render import ms, num, trace_link, utc
from pipeline.api.report.sparkline import sparkline
from pipeline.api.report.waterfall import waterfall

MS = 1_000_000


def _span(sid: str, parent: str, start_ms: int, end_ms: int, status: str = "unset", **extra) -> dict:
    return {"span_id": sid, "parent_span_id": parent, "service": "svc-" + sid, "start_ns": start_ms * MS,
            "end_ns": end_ms * MS, "status": status, "clock_offset_ns": 0, **extra}


def test_waterfall_tree_order_geometry_and_derived_own_error():
    spans = [_span("c2", "b", 60, 80), _span("a", "", 0, 100, "error"), _span("b", "a", 10, 90, "error"),
             _span("c1", "b", 20, 50, "error", clock_offset_ns=-2 * MS), _span("x", "missing", 95, 100)]
    wf = waterfall({"spans": spans})
    assert [(r["span"]["span_id"], r["depth"]) for r in wf["rows"]] == \
        [("a", 0), ("b", 1), ("c1", 2), ("c2", 2), ("x", 0)]
    rows = {r["span"]["span_id"]: r for r in wf["rows"]}
    assert [s for s, r in rows.items() if r["is_error"]] == ["a", "b", "c1"]
    assert [s for s, r in rows.items() if r["own_error"]] == ["c1"]  # the only error with no erring child
    assert (rows["c1"]["left_pct"], rows["c1"]["width_pct"], rows["c1"]["skew_ms"]) == (20.0, 30.0, -2.0)
    assert rows["c1"]["duration_ms"] == 30.0 and wf["duration_ms"] == 100.0
    assert (wf["errors"], wf["own_errors"]) == (3, 1)
    assert [t["ms"] for t in wf["ticks"]] == [0, 25, 50, 75, 100]


def test_waterfall_prefers_the_stores_error_flags():
    # Errors only in log text (no status) and the engine's own deepest-failure choice win.
    spans = [_span("a", "", 0, 10, is_error=True, own_error=False),
             _span("b", "a", 1, 2, "error", is_error=False, own_error=False),
             _span("c", "a", 3, 4, is_error=True, own_error=True)]
    rows = {r["span"]["span_id"]: r for r in waterfall({"spans": spans})["rows"]}
    assert {s: (r["is_error"], r["own_error"]) for s, r in rows.items()} == \
        {"a": (True, False), "b": (False, False), "c": (True, True)}


def test_waterfall_survives_parent_cycles_and_zero_length_traces():
    spans = [_span("p", "q", 0, 0), _span("q", "p", 0, 0), _span("s", "s", 0, 0)]
    rows = waterfall({"spans": spans})["rows"]
    assert sorted(r["span"]["span_id"] for r in rows) == ["p", "q", "s"]
    assert all(0 <= r["left_pct"] and r["left_pct"] + r["width_pct"] <= 100.0 and r["width_pct"] > 0 for r in rows)


def test_graph_columns_follow_call_depth_and_mark_hot_edges():
    graph = {"nodes": [{"service": "fe", "score": 0.1, "suspect": False}, {"service": "db", "score": 0.9, "suspect": True}],
             "edges": [{"caller": "fe", "callee": "api", "calls": 10, "error_rate": 0.3, "baseline_error_rate": 0.0,
                        "p50_ms": 5.0, "baseline_p50_ms": 5.0},
                       {"caller": "api", "callee": "db", "calls": 10, "error_rate": 0.0, "baseline_error_rate": 0.0,
                        "p50_ms": 3.0, "baseline_p50_ms": 2.9},
                       {"caller": "fe", "callee": "db", "calls": 1, "error_rate": 0.0, "baseline_error_rate": 0.0,
                        "p50_ms": 9.0, "baseline_p50_ms": 3.0},
                       {"caller": "db", "callee": "fe", "calls": 1}]}  # a cycle must not loop
    out = layout(graph)
    x = {n["service"]: n["x"] for n in out["nodes"]}
    assert x["fe"] < x["api"] < x["db"]  # api, seen only on edges, still gets a box
    assert [n["service"] for n in out["nodes"] if n["suspect"]] == ["db"]
    hot = {(e["caller"], e["callee"]): e["hot"] for e in out["edges"]}
    assert hot == {("fe", "api"): True, ("api", "db"): False, ("fe", "db"): True, ("db", "fe"): False}
    assert out["width"] >= max(x.values()) + NODE_W
    assert all(e["path"].startswith("M") for e in out["edges"])


def test_sparkline_scales_into_the_box_and_splits_baseline_from_window():
    pts = [[0, 1.0], [50, 3.0], [100, 5.0], [150, float("nan")]]
    c = sparkline("cpu", [{"instance": "i-1", "points": pts}], 0, 100, 200)
    (line,) = c["lines"]
    coords = [tuple(map(float, p.split(","))) for p in line["points"].split()]
    assert len(coords) == 3  # the NaN reading is left out
    assert all(0 <= px <= c["width"] and 0 <= py <= c["height"] for px, py in coords)
    assert coords[0][1] > coords[2][1]  # higher value, higher on the chart
    assert c["split_x"] == pytest.approx(c["width"] / 2)
    assert (c["base_mean"], c["window_mean"], c["min"], c["max"]) == (2.0, 5.0, 1.0, 5.0)
    flat = sparkline("zero", [{"instance": "i", "points": [[0, 0.0], [10, 0.0]]}], 0, 5, 10)
    assert flat["base_y"] == pytest.approx(flat["height"] / 2)
    empty = sparkline("none", [], 0, 5, 10)
    assert empty["lines"] == [] and empty["base_mean"] is None


def test_formatting():
    assert utc(1_735_948_830_123_456_789) == "2025-01-04T00:00:30.123Z"
    assert utc(0) == "1970-01-01T00:00:00.000Z" and utc(None) == "-"
    assert (ms(1.23456), ms(49.61), ms(30000.0), ms(float("nan"))) == ("1.235 ms", "49.6 ms", "30,000 ms", "-")
    assert (num(0.034215), num(116_900_000.0), num(None)) == ("0.03422", "1.169e+08", "-")
    assert trace_link({"trace_id": "ab", "span_id": "cd"}) == "/report/trace/ab#span-cd"
    assert trace_link({"trace_id": "a/b"}) == "/report/trace/a%2Fb" and trace_link({"metric": "cpu"}) is None
