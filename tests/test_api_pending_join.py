"""One join: a span the API shows before correlation equals the row the engine writes for it.

The same records (spans on two skewed hosts, span-less logs tied between equal spans, metric
samples equidistant from a span) go through the correlation engine and, as raw rows with the
engine's clock offsets, through GET /v1/traces/{id}; every pending span must carry what its
correlated row carries (times, offset, logs, readings, error and self-time fields)."""

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
from tests.test_api_traces import CALL, DB, MS, ROOT, SERVE, TID, _insert_correlated, _skewed_trace

TWIN_A, TWIN_B = "7" * 16, "8" * 16  # concurrent cart calls over the same interval
MAIL_A, MAIL_B = "a1" * 8, "a2" * 8  # two mailer spans 20 ms apart
LATE = "9" * 16


def _records():
    """The skewed checkout trace plus the ties the two joins used to break differently."""
    spans, logs, metrics = _skewed_trace()
    spans += [
        _span(TWIN_A, SERVE, "cart", "cart-1", "node-2", 3310, 3350, trace=TID, name="lookup"),
        _span(TWIN_B, SERVE, "cart", "cart-1", "node-2", 3310, 3350, trace=TID, name="lookup"),
        _span(MAIL_A, ROOT, "mailer", "mail-1", "node-3", 820, 860, trace=TID, name="render"),
        _span(MAIL_B, ROOT, "mailer", "mail-1", "node-3", 880, 920, trace=TID, name="send"),
    ]
    logs += [
        # Held by both twins (and by their longer parent): equal spans, so the span id decides.
        _log(10, 3320, "twin log one", service="cart", trace=TID, host="node-2"),
        _log(11, 3340, "twin log two", service="cart", trace=TID, host="node-2"),
        # Exactly between the two mailer spans, inside neither.
        _log(12, 870, "between mails", service="mailer", trace=TID, host="node-3"),
        # No service: any span whose window holds it.
        _log(13, 3330, "anonymous", trace=TID, host="node-2", level=("ERROR", 17)),
    ]
    metrics += [
        # 20 ms before and 20 ms after the mailer span MAIL_A, none inside: equidistant.
        _metric("queue", "mail-1", "node-3", 800, 4.0, "mailer"),
        _metric("queue", "mail-1", "node-3", 880, 6.0, "mailer"),
        # On the skewed host: joined on node-2's own clock.
        _metric("heap", "", "node-2", 3330, 77.0, "cart"),
    ]
    return spans, logs, metrics


def _engine_rows(spans, logs, metrics):
    engine = Correlator(CorrelateConfig())
    engine.add(spans, logs, metrics)
    return engine.poll() + engine.flush_all()


def _same(api_span: dict, row) -> None:
    for name in ("start_ns", "end_ns", "clock_offset_ns", "self_time_ns", "is_error", "own_error", "peer",
                 "service_version", "instance", "status_message"):
        assert api_span[name] == getattr(row, name), (row.span_id, name)
    assert api_span["error_sources"] == list(row.error_sources), row.span_id
    assert api_span["rule_ids"] == list(row.rule_ids), row.span_id
    assert [lg["id"] for lg in api_span["logs"]] == row.log_ids, row.span_id
    assert api_span["metrics"] == pytest.approx(dict(row.metrics)), row.span_id


@pytest.fixture
def store(ch_client):
    migrate(ch_client, Settings())
    return ch_client


def _offsets(client, engine_rows) -> None:
    by_host = {r.host: r.clock_offset_ns for r in engine_rows}
    client_insert(client)("clock_offsets", rows.offset_columns([(h, o, T0) for h, o in by_host.items()]),
                          rows.OFFSET_COLUMNS)


def test_pending_trace_equals_the_engines_rows(store):
    spans, logs, metrics = _records()
    engine = _engine_rows(spans, logs, metrics)
    assert {r.host: r.clock_offset_ns for r in engine}["node-2"] != 0  # skew is really applied
    _insert(store, spans, logs, metrics)
    _offsets(store, engine)
    with TestClient(create_app(_settings(), store)) as api:
        body = api.get(f"/v1/traces/{TID}").json()
    shown = {s["span_id"]: s for s in body["spans"]}
    assert set(shown) == {r.span_id for r in engine}
    assert not any(s["correlated"] for s in shown.values())
    for row in engine:
        _same(shown[row.span_id], row)
    joined = {i for r in engine for i in r.log_ids}
    assert [lg["id"] for lg in body["unattached_logs"]] == sorted(
        (lg.id for lg in logs if lg.id not in joined), key=lambda i: next(lg.time_ns for lg in logs if lg.id == i))
    # The ties were really exercised, and each went one way.
    twin_logs = {sid: [lg["body"] for lg in shown[sid]["logs"]] for sid in (TWIN_A, TWIN_B)}
    assert sorted(map(len, twin_logs.values())) == [0, 3]
    assert len(shown[MAIL_A]["logs"]) + len(shown[MAIL_B]["logs"]) == 1
    assert shown[MAIL_A]["metrics"]["queue"] == 6.0  # the later of two equidistant samples
    assert shown[TWIN_A]["metrics"]["heap"] == 77.0


def test_late_span_shown_pending_equals_its_row_once_re_emitted(store):
    spans, logs, metrics = _records()
    late = replace(_span(LATE, DB, "cart", "cart-1", "node-2", 3450, 3500, trace=TID, name="pool.get"), kind=3)
    first = _engine_rows(spans, logs, metrics)
    # A trace's rows are a pure function of its content, so the rows the engine re-emits once
    # the late span arrives are those of the whole trace correlated at once.
    amended = _engine_rows(spans + [late], logs, metrics)
    _insert(store, spans + [late], logs, metrics)
    _insert_correlated(store, first)
    _offsets(store, first)
    with TestClient(create_app(_settings(), store)) as api:
        body = api.get(f"/v1/traces/{TID}").json()
    shown = {s["span_id"]: s for s in body["spans"]}
    assert shown[LATE]["correlated"] is False
    assert all(shown[r.span_id]["correlated"] for r in first)
    _same(shown[LATE], next(r for r in amended if r.span_id == LATE))
    assert {ROOT, CALL, SERVE, DB} <= set(shown)
