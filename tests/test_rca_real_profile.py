"""Window ranking on telemetry shaped like real incidents (tests/real_slice.py): kindless spans,
pods as instances, per-minute metrics with junk series, an earlier incident in the baseline,
and a window asked about up to a minute before or after the fault's onset."""

from __future__ import annotations

import pytest

from pipeline.rca.window import rank_window
from tests.real_slice import ONSET, PODS, S, load_slice

CASES = {"network": ("stock", "network"), "cpu": ("auth", "resource"), "return": ("shop", "error")}


@pytest.fixture(scope="module")
def slices(chdb_root):
    return {name: load_slice(chdb_root, name)[0] for name in CASES}


@pytest.mark.parametrize("shift_s", [-60, 0, 60])
@pytest.mark.parametrize("fault", sorted(CASES))
def test_the_faulty_pod_ranks_first_when_the_window_starts_a_minute_off(slices, fault, shift_s):
    service, kind = CASES[fault]
    lo = ONSET + shift_s * S
    answer = rank_window(slices[fault], lo, lo + 180 * S, limit=5)
    top = answer["candidates"][0]
    assert (top["service"], top["instance"], top["kind"]) == (service, PODS[service], kind), answer["candidates"][:3]


def test_a_network_delay_is_charged_to_the_callee_not_the_caller_that_waited(slices):
    answer = rank_window(slices["network"], ONSET, ONSET + 180 * S, limit=5)
    services = [c["service"] for c in answer["candidates"]]
    assert services[0] == "stock"
    assert "shop" not in services[:1]
    edge = next(e for e in answer["graph"]["edges"] if (e["caller"], e["callee"]) == ("shop", "stock"))
    assert edge["p50_ms"] > edge["baseline_p50_ms"] + 300
    assert any(ev["signal"] == "metric" and "shop" in ev["summary"] for ev in answer["candidates"][0]["evidence"])


def test_the_earlier_incident_in_the_baseline_does_not_hide_or_invent_one(slices):
    # a quiet window after the earlier incident and before the fault: nothing strong
    lo = ONSET - 10 * 60 * S
    answer = rank_window(slices["cpu"], lo, lo + 180 * S, limit=5)
    assert not answer["candidates"] or answer["candidates"][0]["score"] < 0.5


def test_a_caller_that_stops_calling_is_named_by_the_callee_it_cut_off(slices):
    answer = rank_window(slices["return"], ONSET, ONSET + 180 * S, limit=5)
    top = answer["candidates"][0]
    assert top["service"] == "shop"
    assert any("stock, which shop calls, stopped getting work" in ev["summary"] for ev in top["evidence"])


def test_errors_come_from_log_levels_inside_wrapped_lines_when_spans_carry_no_status(slices):
    rows = slices["cpu"].query(
        "SELECT countIf(own_error), countIf(has(error_sources, 'log')), count() FROM correlated_spans FINAL "
        "WHERE service = 'auth' AND parent_span_id != '' AND start_ns >= {t:Int64}", parameters={"t": ONSET}).result_rows
    own, from_logs, total = rows[0]
    assert total > 100 and own > 0 and from_logs == own
