"""client_insert's two encodings (JSONCompactColumns where exact, Native otherwise) store the same rows."""

from __future__ import annotations

import pytest

from pipeline.config import Settings
from pipeline.model import LogRecord, MetricPoint
from pipeline.store import columnar as rows
from pipeline.store.migrate import migrate
from pipeline.store.writer import client_insert

_SELECT = ("SELECT id, time_ns, body, attributes, resource, rules, parse_failed, severity_text "
           "FROM {} ORDER BY id")


def _logs() -> list[LogRecord]:
    bodies = ['quote " backslash \\ tab \t newline \n', "unicode é 漢字 🚀", "", "\x00\x1f control"]
    return [LogRecord(time_ns=1_700_000_000_000_000_000 + i, body=b, severity_text="WARN", trace_id="ab" * 16,
                      service="cart", attributes={"k": b, "n": str(i)} if i % 2 else {},
                      resource={"service.name": "cart"}, parse_failed=bool(i % 2),
                      rules=["r1", "r2"][: i % 3], id=f"{i:032x}")
            for i, b in enumerate(bodies)]


def test_json_and_native_inserts_store_identical_rows(ch_client):
    migrate(ch_client, Settings())
    ch_client.command("CREATE TABLE logs_native AS logs")
    logs = _logs()
    cols = rows.log_columns(logs)
    client_insert(ch_client)("logs", cols, rows.LOG_COLUMNS)  # JSON path
    ch_client.insert("logs_native", cols, column_names=list(rows.LOG_COLUMNS), column_oriented=True)
    stored = ch_client.query(_SELECT.format("logs")).result_rows
    assert len(stored) == len(logs)
    assert stored == ch_client.query(_SELECT.format("logs_native")).result_rows
    assert [r[2] for r in stored] == [r.body for r in logs]


def test_rows_neither_encoding_can_carry_raise_instead_of_vanishing(ch_client):
    migrate(ch_client, Settings())
    logs = _logs()
    logs[0].body = "lone surrogate \ud800 here"  # not UTF-8: orjson and the Native encoder both refuse it
    with pytest.raises(UnicodeEncodeError):
        client_insert(ch_client)("logs", rows.log_columns(logs), rows.LOG_COLUMNS)
    assert ch_client.query("SELECT count() FROM logs").result_rows == [(0,)]



def test_a_record_repeated_inside_one_insert_reads_once_on_either_path(ch_client):
    # Inserts skip the per-block merge (optimize_on_insert=0): FINAL must still collapse repeats.
    migrate(ch_client, Settings())
    insert = client_insert(ch_client)
    insert("logs", rows.log_columns(_logs() + _logs()), rows.LOG_COLUMNS)  # JSON path
    points = [MetricPoint(name="cpu", type="gauge", time_ns=1_700_000_000_000_000_000 + i, value=float(i),
                          service="cart", id=f"{i:032x}") for i in range(3)]
    insert("metrics", rows.metric_columns(points + points), rows.METRIC_COLUMNS)  # always Native
    assert ch_client.query("SELECT count() FROM logs FINAL").result_rows == [(len(_logs()),)]
    assert ch_client.query("SELECT count() FROM metrics FINAL").result_rows == [(len(points),)]
