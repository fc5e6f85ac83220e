"""One definition per table: the column lists parsed from the packaged DDL match the migrated
tables, and every SELECT the API and the commands run lives in pipeline/store/queries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pipeline
from pipeline.config import Settings
from pipeline.store import tables
from pipeline.store.migrate import migrate
from pipeline.store.queries.status import row_count

WRITTEN = {"spans": tables.SPAN_COLUMNS, "logs": tables.LOG_COLUMNS, "metrics": tables.METRIC_COLUMNS,
           "dlq": tables.DLQ_COLUMNS, "correlated_spans": tables.CORRELATED_COLUMNS,
           "clock_offsets": tables.OFFSET_COLUMNS}
DOC_SOURCE = {"span": "spans", "correlated": "correlated_spans", "log": "logs"}
PACKAGE = Path(pipeline.__file__).parent


@pytest.fixture
def migrated(ch_client):
    migrate(ch_client, Settings())
    return ch_client


def _described(client, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in client.query(
        "SELECT name, default_kind || ' ' || default_expression FROM system.columns "
        "WHERE database = currentDatabase() AND table = {t:String} ORDER BY position", parameters={"t": table}
    ).result_rows]


@pytest.mark.parametrize("table", sorted(WRITTEN))
def test_parsed_columns_are_the_migrated_tables_in_order(migrated, table):
    described = _described(migrated, table)
    assert tables.columns(table) == tuple(name for name, _ in described)
    # The writer sends every column but the server-filled ingest clock.
    filled = {name for name, default in described if default.startswith("DEFAULT now")}
    assert filled and set(WRITTEN[table]) == {name for name, _ in described} - filled
    assert WRITTEN[table] == tables.written(table)


@pytest.mark.parametrize("table", ["spans", "logs", "metrics", "correlated_spans"])
def test_each_insert_twin_takes_what_is_written_with_plain_strings(migrated, table):
    twin = tables.input_table(table)
    assert twin == f"{table}_input"
    types = dict(migrated.query("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                                "AND table = {t:String}", parameters={"t": table}).result_rows)
    plain = [(n, re.sub(r"LowCardinality\((\w+)\)", r"\1", types[n])) for n in WRITTEN[table]]
    assert migrated.query("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                          "AND table = {t:String} ORDER BY position", parameters={"t": twin}).result_rows == plain
    assert tables.input_table("dlq") == "dlq"  # no twin: inserted as it is


@pytest.mark.parametrize("kind", sorted(DOC_SOURCE))
def test_trace_doc_fields_are_columns_of_their_source(migrated, kind):
    fields = tables.doc_fields(kind)
    # (tests/test_api_trace_docs.py checks the stored documents decode to these fields.)
    assert len(fields) >= 10 and set(fields) <= set(tables.columns(DOC_SOURCE[kind]))


def test_row_count_refuses_a_table_the_schemas_do_not_define():
    assert row_count("spans") == "SELECT count() FROM spans FINAL"
    with pytest.raises(KeyError):
        row_count("spans; DROP TABLE spans")


def test_every_select_of_the_product_lives_in_the_store():
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("store", "sim"):
            continue  # sim/: the simulator's own checks of what landed, not product reads
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if re.search(r"[\"']\s*SELECT\b", code) or code.lstrip().startswith("SELECT "):
                outside.append(f"{rel}:{n}")
    assert outside == []
