"""Trace ends: where requests now stop early, and the metric leads that go with cut-short requests."""

from __future__ import annotations

from pipeline.rca.pod_metrics import SeriesShift, failing, slowed
from pipeline.rca.score import metric_deviations, score_services
from pipeline.rca.trace_ends import trace_ends

S = 10**9


def _rows(base: dict[str, tuple[int, float]], win: dict[str, tuple[int, float]]) -> list[dict]:
    return [{"in_window": w, "end_service": svc, "traces": n, "spans": sp}
            for w, d in ((0, base), (1, win)) for svc, (n, sp) in d.items()]


BASE = {"ads": (600, 50.0), "currency": (250, 60.0), "cart": (100, 7.0), "frontend": (70, 1.0)}


def test_traces_that_now_stop_short_at_a_service_name_it():
    # the catalog's answers make the caller give up: most traces end there, with few spans
    found = trace_ends(_rows(BASE, {"catalog": (700, 7.5), "ads": (110, 60.0), "frontend": (60, 1.0)}))
    assert list(found) == ["catalog"]
    end = found["catalog"]
    assert end.strength > 0.7 and end.share_b == 0.0 and round(end.share_w, 2) == 0.80
    assert "requests now end at catalog" in end.summary()


def test_a_service_that_stops_calling_its_children_ends_its_own_traces():
    found = trace_ends(_rows(BASE, {"frontend": (560, 1.0), "ads": (130, 50.0), "currency": (250, 60.0),
                                    "cart": (100, 7.0)}))
    assert list(found) == ["frontend"]


def test_a_different_last_call_with_whole_traces_is_no_lead():
    # a slow callee reorders which call starts last, but the requests are as long as before
    assert trace_ends(_rows(BASE, {"currency": (800, 55.0), "ads": (50, 50.0), "frontend": (70, 1.0)})) == {}
    # the same mix as the baseline, and too few traces to judge, say nothing
    assert trace_ends(_rows(BASE, BASE)) == {}
    assert trace_ends(_rows(BASE, {"catalog": (20, 2.0)})) == {}


def test_trace_ends_lead_the_ranking_over_the_entry_services_symptoms():
    ends = trace_ends(_rows(BASE, {"catalog": (700, 7.5), "ads": (110, 60.0), "frontend": (60, 1.0)}))
    fail = SeriesShift("frontend", "", "frontend.success_rate", "", -3.0, 5.0, 92.0, 100.0, 100.0, 92.0, 100.0, 3, 30)
    rows = [{"service": "frontend", "peer": "catalog", "instance": "fe-1", "name": "GetProduct", "n_w": 700,
             "n_b": 6000, "own_err_w": 0, "own_err_b": 0, "self_q_w": [], "self_q_b": []}]
    ranked = score_services(rows, [], [], [], {}, shifts=[fail], ends=ends)
    assert [s.service for s in ranked][:2] == ["catalog", "frontend"]
    assert ranked[0].kind == "error" and ranked[1].fail_strength > 0


def _shift(service: str, name: str, z: float, med_w: float, med_b: float, p90_b: float, max_b: float) -> SeriesShift:
    return SeriesShift(service, f"{service}-1", name, "", z, 1.0, med_w, med_b, p90_b, med_w, max_b, 3, 30)


def test_a_success_rate_at_its_ceiling_fails_by_its_complement():
    # 100 % in every baseline minute, 97.7 % now: no spread to measure by, yet 2.3 % now fail
    assert "fe" in failing([_shift("fe", "frontend.success_rate", -0.5, 97.7, 100.0, 100.0, 100.0)])
    # 99.5 % is within a percent of the ceiling; a rate that always wobbled by 3 % is not failing at 97 %
    assert failing([_shift("fe", "frontend.success_rate", -0.1, 99.5, 100.0, 100.0, 100.0)]) == {}
    assert failing([_shift("fe", "frontend.success_rate", -1.0, 97.0, 98.0, 99.0, 100.0)]) == {}
    # an error rate that was 0 most minutes and is 0.1/s now is noise, not failing
    assert failing([_shift("cart", "service.error.rate", 25.0, 0.1, 0.0, 0.1, 0.1)]) == {}
    assert "cart" in failing([_shift("cart", "service.error.rate", 25.0, 2.0, 0.0, 0.1, 0.3)])


def test_only_the_deepest_slowed_service_is_a_latency_lead():
    shifts = [_shift("frontend", "pod.server.latency.p99", 9.0, 3.0, 0.6, 0.7, 0.8),
              _shift("checkout", "pod.server.latency.p99", 10.0, 2.4, 0.5, 0.6, 0.7),
              _shift("payment", "pod.client.latency.p99", 10.0, 2.4, 0.5, 0.6, 0.7)]
    assert set(slowed(shifts)) == {"frontend", "checkout"}
    # 3 ms more on a 5 ms service, where the gauge's typical level is half a second, is no lead
    assert "shipping" not in slowed(shifts + [_shift("shipping", "pod.server.latency.p99", 12.0, 0.008, 0.005,
                                                     0.006, 0.006)])
    rows = [{"service": a, "peer": b, "instance": f"{a}-1", "name": f"call {b}", "n_w": 30, "n_b": 300,
             "own_err_w": 0, "own_err_b": 0, "self_q_w": [], "self_q_b": []}
            for a, b in (("frontend", "checkout"), ("checkout", "payment"))]
    ranked = score_services(rows, [], [], [], {}, shifts=shifts)
    assert [s.service for s in ranked] == ["checkout"]
    assert ranked[0].failing[0].name == "pod.server.latency.p99"


def test_a_coarse_gauge_with_no_reading_in_a_short_window_is_missing_not_silent():
    coarse = {"service": "cart", "instance": "cart-1", "name": "pod.memory.usage", "n_w": 0, "n_b": 30,
              "mean_w": None, "max_w": None, "mean_b": 100.0, "sd_b": 2.0, "max_b": 104.0,
              "n_late": 0, "mean_late": None, "max_late": None, "step": 60 * S}
    assert metric_deviations([coarse]) == {}
    # its reading stamped within a minute after the window describes the window
    late = {**coarse, "n_late": 1, "mean_late": 180.0, "max_late": 180.0}
    assert metric_deviations([late])["cart"][0]["z"] > 3
    # a series read every few seconds that stops in the window did fall silent
    fine = {**coarse, "step": 5 * S}
    assert metric_deviations([fine])["cart"][0]["silent"]
