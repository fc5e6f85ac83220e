"""The trace lookup's one read (`trace_docs`, schemas/005): documents written by the materialized
views carry exactly the source rows' values, rows stored before the migration are found through
its backfill, replayed rows show once, and text that is not valid UTF-8 does not break a lookup."""

from __future__ import annotations

import shutil
from dataclasses import replace

from pipeline.api.reads import Reader, ReadLimits
from pipeline.api.traces import CORRELATED_FIELDS, LOG_FIELDS, SPAN_FIELDS, fetch_trace, read_docs
from pipeline.config import Settings
from pipeline.store.migrate import SCHEMA_DIR, migrate
from tests.test_api import TRACE, TRACE_LOGS, TRACE_METRICS, TRACE_SPANS, _insert, _log, _span
from tests.test_api_traces import TID, _correlate, _insert_correlated, _skewed_trace


def _reader(client) -> Reader:
    return Reader(client, ReadLimits())


def _source(client, table: str, key: str, fields: tuple[str, ...]) -> dict[str, dict]:
    cols = ", ".join((key, *fields))
    res = client.query(f"SELECT {cols} FROM {table} WHERE trace_id = {{t:String}}", parameters={"t": TID})
    return {r[0]: dict(zip(fields, r[1:])) for r in res.result_rows}


def _jsonish(v):
    """A value as it reads back from JSON: tuples as lists, maps as dicts, bools and numbers as is."""
    if isinstance(v, (tuple, list)):
        return [_jsonish(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonish(x) for k, x in v.items()}
    return v


def test_documents_hold_each_source_rows_values_field_by_field(ch_client):
    migrate(ch_client, Settings())
    spans, logs, metrics = _skewed_trace()
    _insert(ch_client, spans, logs, metrics)
    _insert_correlated(ch_client, _correlate(spans, logs, metrics))
    correlated, raw, log_rows = read_docs(_reader(ch_client), TID)
    # The field lists in pipeline.api.traces match the order the views write.
    want_corr = _source(ch_client, "correlated_spans", "span_id", CORRELATED_FIELDS + ("version",))
    assert set(correlated) == set(want_corr) and len(correlated) == 4
    for sid, row in correlated.items():
        assert {k: _jsonish(v) for k, v in row.items() if k != "span_id"} == \
            {k: _jsonish(v) for k, v in want_corr[sid].items()}
    want_raw = _source(ch_client, "spans", "span_id", SPAN_FIELDS)
    assert {sid: {k: v for k, v in r.items() if k != "span_id"} for sid, r in raw.items()} == \
        {sid: {k: _jsonish(v) for k, v in r.items()} for sid, r in want_raw.items()}
    want_logs = _source(ch_client, "logs", "id", LOG_FIELDS)
    assert len(want_logs) == 3
    assert {i: {k: v for k, v in r.items() if k != "id"} for i, r in log_rows.items()} == \
        {i: {k: _jsonish(v) for k, v in r.items()} for i, r in want_logs.items()}


def test_rows_stored_before_the_migration_are_found(ch_client, tmp_path):
    older = tmp_path / "schemas"
    older.mkdir()
    # Every migration but 005 (and the later 007), so the raw tables already have the columns
    # today's writer sends (006 adds the log template ones).
    for p in SCHEMA_DIR.glob("00[1-46]_*.sql"):
        shutil.copy(p, older / p.name)
    migrate(ch_client, Settings(), older)
    _insert(ch_client, TRACE_SPANS, TRACE_LOGS, TRACE_METRICS)
    assert ch_client.query("EXISTS TABLE trace_docs").result_rows[0][0] == 0
    assert migrate(ch_client, Settings())[0] == 5
    trace = fetch_trace(_reader(ch_client), TRACE)
    assert sorted(s["span_id"] for s in trace["spans"]) == sorted(s.span_id for s in TRACE_SPANS)
    shown = [lg["body"] for s in trace["spans"] for lg in s["logs"]] + [lg["body"] for lg in trace["unattached_logs"]]
    assert sorted(shown) == sorted(lg.body for lg in TRACE_LOGS)
    # and rows written after it arrive through the views
    _insert(ch_client, [_span("d" * 16, "a" * 16, "mailer", "mail-1", "node-3", 700, 900)])
    assert len(fetch_trace(_reader(ch_client), TRACE)["spans"]) == len(TRACE_SPANS) + 1


def test_replayed_rows_show_once_and_the_newest_version_wins(ch_client):
    migrate(ch_client, Settings())
    ch_client.command("SYSTEM STOP MERGES trace_docs")  # keep the twins a merge would collapse
    spans, logs, metrics = _skewed_trace()
    correlated = _correlate(spans, logs, metrics)
    for _ in range(2):  # a replay after a crash writes every row again
        _insert(ch_client, spans, logs, metrics)
        _insert_correlated(ch_client, correlated)
    _insert_correlated(ch_client, [replace(correlated[0], version=correlated[0].version + 2, status_message="v2")])
    assert ch_client.query("SELECT count() FROM trace_docs").result_rows[0][0] == 2 * (4 + 3 + 4) + 1
    trace = fetch_trace(_reader(ch_client), TID)
    assert len(trace["spans"]) == 4
    by_id = {s["span_id"]: s for s in trace["spans"]}
    assert by_id[correlated[0].span_id]["status_message"] == "v2"
    assert sum(len(s["logs"]) for s in trace["spans"]) + len(trace["unattached_logs"]) == 3


def test_invalid_utf8_text_does_not_break_a_lookup(ch_client):
    migrate(ch_client, Settings())
    _insert(ch_client, TRACE_SPANS[:1])
    ch_client.command(f"INSERT INTO logs (id, time_ns, trace_id, span_id, body) VALUES "
                      f"('{'e' * 32}', {TRACE_SPANS[0].start_ns}, '{TRACE}', '{TRACE_SPANS[0].span_id}', "
                      f"concat('bad ', unhex('ff'), ' byte'))")
    trace = fetch_trace(_reader(ch_client), TRACE)
    assert [lg["body"] for lg in trace["spans"][0]["logs"]] == ["bad \ufffd byte"]


def test_logs_of_the_trace_are_shown_however_far_from_its_spans(ch_client):
    migrate(ch_client, Settings())
    _insert(ch_client, TRACE_SPANS, [_log(9, 6 * 3600 * 1000, "retried hours later", service="cart")])
    trace = fetch_trace(_reader(ch_client), TRACE)
    assert [lg["body"] for lg in trace["unattached_logs"]] == ["retried hours later"]


def test_a_trace_with_only_logs_is_not_a_trace(ch_client):
    migrate(ch_client, Settings())
    _insert(ch_client, logs=[_log(1, 0, "orphan", trace="77" * 16)])
    assert fetch_trace(_reader(ch_client), "77" * 16) is None
