"""Window and trace ranking on simulated faults stored in chDB through every pipeline stage:
the injected service ranks first with the right kind, the evidence points at real rows, a
service scope narrows the answer, and missing signals lower confidence without breaking it."""

from __future__ import annotations

import pytest

from pipeline.rca import WindowError, rank_trace, rank_window
from pipeline.rca.evaluate import evaluate_truth, summarise
from tests.rca_support import CASES, load_fault


@pytest.fixture
def runs(rca_runs):
    return rca_runs


def _window(truth: dict) -> tuple[int, int]:
    f = truth["faults"][0]
    return f["start_ns"], f["end_ns"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_injected_service_ranks_first_with_its_kind(runs, name):
    client, truth = runs[name]
    _, service, kind = CASES[name]
    answer = rank_window(client, *_window(truth))
    top = answer["candidates"][0]
    assert (top["service"], top["kind"]) == (service, kind), answer["candidates"][:3]
    assert top["rank"] == 1 and 0 < top["score"] <= 1
    assert [c["rank"] for c in answer["candidates"]] == list(range(1, len(answer["candidates"]) + 1))
    assert all(a["score"] >= b["score"] for a, b in zip(answer["candidates"], answer["candidates"][1:]))
    assert answer["confidence"] > 0.3
    assert any(n["service"] == service and n["suspect"] for n in answer["graph"]["nodes"])


def test_evidence_points_at_stored_rows(runs):
    client, truth = runs["error"]
    top = rank_window(client, *_window(truth))["candidates"][0]
    signals = {e["signal"] for e in top["evidence"]}
    assert {"span", "log"} <= signals
    span_refs = [e["ref"] for e in top["evidence"] if "span_id" in e["ref"] and e["signal"] == "span"]
    assert span_refs
    for ref in span_refs:
        rows = client.query("SELECT service, peer, own_error FROM correlated_spans FINAL "
                            "WHERE trace_id = {t:String} AND span_id = {s:String}",
                            parameters={"t": ref["trace_id"], "s": ref["span_id"]}).result_rows
        assert rows and "cart" in (rows[0][0], rows[0][1])
    log_ids = [e["ref"]["log_id"] for e in top["evidence"] if e["signal"] == "log" and e["ref"].get("log_id")]
    assert log_ids
    found = client.query("SELECT count() FROM logs WHERE id IN {ids:Array(String)}",
                         parameters={"ids": log_ids}).result_rows[0][0]
    assert found == len(set(log_ids))


def test_failed_trace_blames_the_deepest_failure(runs):
    client, truth = runs["error"]
    lo, hi = _window(truth)
    trace_id = client.query(
        "SELECT trace_id FROM correlated_spans FINAL WHERE own_error AND service = 'cart' AND peer = '' "
        "AND start_ns BETWEEN {lo:Int64} AND {hi:Int64} AND trace_id IN (SELECT trace_id FROM correlated_spans "
        "WHERE parent_span_id = '' AND is_error) ORDER BY trace_id LIMIT 1",
        parameters={"lo": lo, "hi": hi}).result_rows[0][0]
    answer = rank_trace(client, trace_id)
    top = answer["candidates"][0]
    assert top["service"] == "cart" and top["kind"] == "error"
    assert top["instance"].startswith("cart-")
    assert any(e["ref"].get("trace_id") == trace_id for e in top["evidence"])
    assert rank_trace(client, "f" * 32) is None


def test_service_scope_keeps_only_what_it_calls(runs):
    client, truth = runs["dependency-down"]
    lo, hi = _window(truth)
    scoped = rank_window(client, lo, hi, service="catalog")
    assert scoped["candidates"][0]["service"] == "postgres"
    assert {c["service"] for c in scoped["candidates"]} <= {"catalog", "postgres", "redis"}
    assert {c["service"] for c in rank_window(client, lo, hi, service="email")["candidates"]} <= {"email"}


def test_missing_metrics_and_logs_lower_confidence_not_the_answer(chdb_root, runs):
    full_client, full_truth = runs["error"]
    client, truth = load_fault(chdb_root, CASES["error"][0], signals=("traces",))
    answer = rank_window(client, *_window(truth))
    assert answer["candidates"][0]["service"] == "cart"
    assert any("metrics" in n for n in answer["notes"]) and any("log" in n for n in answer["notes"])
    assert answer["confidence"] < rank_window(full_client, *_window(full_truth))["confidence"]


def test_window_must_be_ordered(runs):
    client, truth = runs["error"]
    lo, hi = _window(truth)
    with pytest.raises(WindowError):
        rank_window(client, hi, lo)


def test_evaluation_scores_every_fault_beside_baselines(runs):
    results = []
    for name in sorted(CASES):
        client, truth = runs[name]
        results += evaluate_truth(client, truth)
    summary = summarise(results)
    assert summary["faults"] == len(CASES)
    assert summary["top1"] == 1.0
    assert set(summary["baselines"]) == {"most_errors", "latency_increase", "metric_deviation"}
    assert all(0 <= b["top1"] <= 1 for b in summary["baselines"].values())
    assert set(summary["by_type"]) == set(CASES)
