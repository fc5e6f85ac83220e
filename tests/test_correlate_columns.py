"""The engine's correlated rows as insert columns (the worker's path) against the same rows as
`CorrelatedSpan` records (the API's and the tests' path): same rows, same store columns, and
sampling drops a whole trace's columns, nothing more."""

from __future__ import annotations

import asyncio

from pipeline.column_batch import ColumnBatch
from pipeline.config import Settings
from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.correlate.sampling import keep_by_hash
from pipeline.model import STATUS_ERROR, CorrelatedSpan, LogRecord, Span
from pipeline.store.columnar import correlated_columns
from pipeline.store.migrate import migrate
from pipeline.store.tables import CORRELATED_COLUMNS
from pipeline.store.writer import Sink, client_insert
from tests.sim_rows import simulator_rows

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S


def tid(n: int) -> str:
    return f"{n:032x}"


def trace(n: int, error: bool = False, slow: bool = False) -> tuple[list[Span], list[LogRecord]]:
    """A three-span trace over two hosts with a log on the child (an error log when `error`)."""
    t0 = T0 + n * 10 * MS
    end = t0 + (3 * S if slow else 50 * MS)
    spans = [Span(trace_id=tid(n), span_id="root", parent_span_id="", name="GET /", start_ns=t0, end_ns=end, service="api",
                  host="h1", kind=2, status_code=STATUS_ERROR if error else 0),
             Span(trace_id=tid(n), span_id="call", parent_span_id="root", name="call", start_ns=t0 + MS,
                  end_ns=t0 + 40 * MS, service="api", host="h1", kind=3, attributes={"peer.service": "db"}),
             Span(trace_id=tid(n), span_id="db", parent_span_id="call", name="q", start_ns=t0 + 2 * MS,
                  end_ns=t0 + 30 * MS, service="db", host="h2", kind=2, resource={"service.version": "1.2"})]
    logs = [LogRecord(time_ns=t0 + 5 * MS, body="boom " * 100, severity_number=17 if error else 9, trace_id=tid(n),
                      span_id="db", host="h2", id=f"l{n}", service="db", rules=["r2", "r1"]),
            LogRecord(time_ns=t0 + 6 * MS, body="ok", severity_text="INFO", trace_id=tid(n), host="h2",
                      id=f"m{n}", service="db")]
    return spans, logs


def run(cfg: CorrelateConfig, columns: bool) -> list:
    eng = Correlator(cfg)
    out = ColumnBatch(CorrelatedSpan) if columns else []
    for n in range(60):
        spans, logs = trace(n, error=n % 7 == 0, slow=n % 11 == 0)
        eng.add(spans, logs)
        out.extend(eng.poll_columns() if columns else eng.poll())
    out.extend(eng.flush_columns() if columns else eng.flush_all())
    return out


def test_columns_are_the_records_rows_and_give_the_same_insert_columns():
    cfg = CorrelateConfig(inactivity_ns=S)
    cols, records = run(cfg, True), run(cfg, False)
    # two hosts: a trace is emitted again once its skew table is decided (a higher version)
    assert type(cols) is ColumnBatch and len(cols) == len(records) > 180
    assert len(set(zip(cols.column("trace_id"), cols.column("span_id")))) == 180
    assert cols.records() == records
    assert correlated_columns(cols) == correlated_columns(records)
    names = dict(zip(CORRELATED_COLUMNS, correlated_columns(cols)))
    assert names["id"] == [r.trace_id + r.span_id for r in records]
    at = {r.trace_id + r.span_id: i for i, r in enumerate(records)}  # each id's newest version
    root, call, db = (records[at[tid(0) + sid]] for sid in ("root", "call", "db"))
    assert db.rule_ids == ["r1", "r2"] and db.log_count == 2 and db.error_sources == ["log"]
    assert db.log_severity_counts == {"error": 1, "info": 1} and db.service_version == "1.2"
    assert len(db.error_logs[0]["body"]) == cfg.excerpt_chars and call.peer == "db"
    assert names["error_logs"][at[tid(0) + "db"]].startswith('[{"id":"l0"')
    assert names["error_logs"][at[tid(0) + "root"]] == ""
    # root fails by status, but its failing descendant is not its child: its own error; the db
    # span fails by its log and has no failing child: its own error too.
    assert root.is_error and root.error_sources == ["status"] and root.own_error and db.own_error
    assert not call.is_error and not call.own_error


def test_sampling_drops_whole_traces_from_the_columns():
    cfg = CorrelateConfig(inactivity_ns=S, sample_rate=0.3, slow_span_ns=2 * S)
    cols = run(cfg, True)
    kept = {t for t in cols.column("trace_id")}
    expect = {tid(n) for n in range(60) if n % 7 == 0 or n % 11 == 0 or keep_by_hash(tid(n), 0.3)}
    assert kept == expect and len(expect) < 60
    assert len(set(zip(cols.column("trace_id"), cols.column("span_id")))) == 3 * len(expect)
    assert cols.records() == run(cfg, False)


def test_simulator_rows_from_columns_match_the_record_path():
    # tests/sim_rows.py reads rows through poll()/flush_all(); the worker writes poll_columns():
    # the same rows, version for version, on the simulator's shop.
    rows = simulator_rows("v2", seconds=8)
    assert len(rows) > 300 and any(r["metrics"] for r in rows) and any(r["log_ids"] for r in rows)
    assert simulator_rows("v2", seconds=8, columns=True) == rows


def test_the_sink_stores_the_columns_as_the_records_are_stored(ch_client):
    # The worker's path (columns through the Sink's JSON insert) against the records inserted
    # Native into a copy of the table: the same stored rows.
    migrate(ch_client, Settings())
    ch_client.command("CREATE TABLE correlated_spans_native AS correlated_spans")
    cols = run(CorrelateConfig(inactivity_ns=S), True)

    async def write() -> None:
        sink = Sink(client_insert(ch_client), flush_s=0.05)
        await sink.write({"correlated_spans": cols})
        await sink.close()
        assert sink.stats.rows["correlated_spans"] == len(cols)

    asyncio.run(write())
    ch_client.insert("correlated_spans_native", correlated_columns(cols.records()),
                     column_names=list(CORRELATED_COLUMNS), column_oriented=True)
    # FINAL: the Native insert collapses versions inside its block, the JSON one does not
    select = f"SELECT {', '.join(CORRELATED_COLUMNS)} FROM {{}} FINAL"
    stored = sorted(ch_client.query(select.format("correlated_spans")).result_rows, key=repr)
    assert len(stored) == 180
    assert stored == sorted(ch_client.query(select.format("correlated_spans_native")).result_rows, key=repr)
