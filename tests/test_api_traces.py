"""GET /v1/traces/{id} over correlated_spans: skew-corrected times and offsets from the
correlation engine, amended traces shown once (newest version), logs placed by the rows'
log_ids, and spans still in flight filled in from the raw tables."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from pipeline.api.app import create_app
from pipeline.config import Settings
from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.store import columnar as rows
from pipeline.store.migrate import migrate
from pipeline.store.writer import client_insert
from tests.test_api import T0, _insert, _log, _metric, _settings, _span

S = 1_000_000_000
MS = 1_000_000
TID = "5a" * 16
ROOT, CALL, SERVE, DB = "1" * 16, "2" * 16, "3" * 16, "4" * 16
SKEW = 3 * S  # node-2's clock runs 3 s ahead of node-1's


def _skewed_trace():
    """frontend on node-1 calls cart on node-2, whose clock is SKEW ahead: in raw time cart's
    server span starts 2.7 s after the client span that waits for it has ended."""
    root = _span(ROOT, "", "frontend", "fe-1", "node-1", 0, 1000, trace=TID, name="GET /checkout")
    call = replace(_span(CALL, ROOT, "frontend", "fe-1", "node-1", 200, 800, trace=TID, name="POST cart"), kind=3)
    serve = _span(SERVE, CALL, "cart", "cart-1", "node-2", 300 + 3000, 700 + 3000, status=2, trace=TID,
                  name="cart.add")
    db = replace(_span(DB, SERVE, "cart", "cart-1", "node-2", 400 + 3000, 600 + 3000, trace=TID, name="db"),
                 kind=3)
    logs = [_log(1, 450 + 3000, "db call failed", service="cart", span_id=SERVE, trace=TID,
                 level=("ERROR", 17), host="node-2"),
            _log(2, 100, "checkout started", service="frontend", span_id=ROOT, trace=TID, host="node-1"),
            _log(3, 400_000, "long after the trace", service="frontend", trace=TID, host="node-1")]
    metrics = [replace(_metric("cpu", "cart-1", "node-2", 500 + 3000, 0.93), service="cart")]
    return [root, call, serve, db], logs, metrics


def _correlate(spans, logs, metrics):
    engine = Correlator(CorrelateConfig())
    engine.add(spans, logs, metrics)
    return engine.poll() + engine.flush_all()


def _insert_correlated(client, correlated) -> None:
    client_insert(client)("correlated_spans", rows.correlated_columns(correlated), rows.CORRELATED_COLUMNS)


@pytest.fixture
def skewed(ch_client):
    migrate(ch_client, Settings())
    spans, logs, metrics = _skewed_trace()
    correlated = _correlate(spans, logs, metrics)
    _insert(ch_client, spans, logs, metrics)
    _insert_correlated(ch_client, correlated)
    with TestClient(create_app(_settings(), ch_client)) as c:
        yield c, ch_client, correlated


def test_skewed_hosts_spans_come_back_corrected_with_their_offset(skewed):
    api, _, correlated = skewed
    body = api.get(f"/v1/traces/{TID}").json()
    spans = {s["span_id"]: s for s in body["spans"]}
    assert set(spans) == {ROOT, CALL, SERVE, DB}
    assert all(s["correlated"] for s in spans.values())
    # The engine estimated node-2's offset from the client/server pair; the API reports it.
    engine_offset = {r.span_id: r.clock_offset_ns for r in correlated}
    assert engine_offset[SERVE] != 0
    for sid in (SERVE, DB):
        assert spans[sid]["clock_offset_ns"] == engine_offset[sid]
        assert abs(spans[sid]["clock_offset_ns"] - SKEW) < 50 * MS
    for sid in (ROOT, CALL):
        assert spans[sid]["clock_offset_ns"] == 0
        assert spans[sid]["start_ns"] == T0 + {ROOT: 0, CALL: 200}[sid] * MS
    # Raw cart times lie seconds after the call; corrected ones lie inside it.
    serve, call = spans[SERVE], spans[CALL]
    assert call["start_ns"] <= serve["start_ns"] < serve["end_ns"] <= call["end_ns"]
    assert serve["start_ns"] == T0 + (300 + 3000) * MS - serve["clock_offset_ns"]
    assert spans[DB]["start_ns"] - serve["start_ns"] == 100 * MS  # one host's clock: spacing kept
    # Fields only correlation computes.
    assert serve["is_error"] and serve["own_error"] and not spans[ROOT]["own_error"]
    assert serve["self_time_ns"] == 200 * MS  # 400 ms span minus its 200 ms db child
    assert serve["status"] == "error" and serve["kind"] == "server"
    assert [lg["body"] for lg in serve["logs"]] == ["db call failed"]
    assert [lg["body"] for lg in spans[ROOT]["logs"]] == ["checkout started"]
    assert serve["metrics"]["cpu"] == pytest.approx(0.93)
    assert [lg["body"] for lg in body["unattached_logs"]] == ["long after the trace"]


def test_amended_trace_shows_each_span_once_at_its_newest_version(skewed):
    api, client, correlated = skewed
    newer = [replace(r, version=r.version + 10, status_message="amended", late_amend=True) for r in correlated]
    _insert_correlated(client, newer)
    assert client.query(f"SELECT count() FROM correlated_spans WHERE trace_id = '{TID}'").result_rows[0][0] == 8
    spans = api.get(f"/v1/traces/{TID}").json()["spans"]
    assert sorted(s["span_id"] for s in spans) == sorted([ROOT, CALL, SERVE, DB])
    assert {s["status_message"] for s in spans} == {"amended"}


def test_span_not_yet_correlated_comes_from_raw_with_its_hosts_offset(skewed):
    api, client, correlated = skewed
    offset = next(r.clock_offset_ns for r in correlated if r.host == "node-2")
    late = [_span("5" * 16, SERVE, "cart", "cart-1", "node-2", 650 + 3000, 690 + 3000, trace=TID, name="cache"),
            _span("6" * 16, ROOT, "mailer", "mail-1", "node-9", 900, 950, trace=TID, name="notify")]
    _insert(client, late, [_log(7, 660 + 3000, "cache miss", service="cart", span_id="5" * 16, trace=TID,
                                host="node-2")])
    client_insert(client)("clock_offsets", rows.offset_columns([("node-9", -2 * S, T0)]), rows.OFFSET_COLUMNS)
    body = api.get(f"/v1/traces/{TID}").json()
    spans = {s["span_id"]: s for s in body["spans"]}
    assert len(spans) == 6
    cache, notify = spans["5" * 16], spans["6" * 16]
    assert not cache["correlated"] and not notify["correlated"]
    # node-2's offset from the trace's correlated spans; node-9's from clock_offsets.
    assert cache["clock_offset_ns"] == offset
    assert cache["start_ns"] == T0 + (650 + 3000) * MS - offset
    assert notify["clock_offset_ns"] == -2 * S and notify["start_ns"] == T0 + 900 * MS + 2 * S
    assert [lg["body"] for lg in cache["logs"]] == ["cache miss"]
    assert cache["metrics"] == {"cpu": 0.93}  # the raw reading on its instance, on its own clock
    # Built by the engine's row builder: what correlation computes is there, as it will be.
    assert cache["self_time_ns"] == 40 * MS and cache["own_error"] is False and cache["peer"] == ""
    starts = [s["start_ns"] for s in body["spans"]]
    assert starts == sorted(starts)


def test_trace_index_without_any_span_row_is_404(ch_client):
    migrate(ch_client, Settings())
    ch_client.command(f"INSERT INTO trace_index (trace_id, start_ns, end_ns) VALUES ('{TID}', {T0}, {T0 + S})")
    with TestClient(create_app(_settings(), ch_client)) as c:
        r = c.get(f"/v1/traces/{TID}")
    assert r.status_code == 404 and TID in r.json()["error"]
