"""The store against the real embedded engine: migrations, columnar writes, idempotence, retries."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.config import Settings
from pipeline.model import Exemplar, LogRecord, MetricPoint, Span
from pipeline.store.migrate import migrate, split_statements
from pipeline.store.writer import Sink, client_insert


def _span(i: int, trace: str = "ab" * 16) -> Span:
    return Span(trace_id=trace, span_id=f"{i:016x}", parent_span_id="", name="GET /x",
                start_ns=1_700_000_000_000_000_000 + i, end_ns=1_700_000_000_000_000_000 + i + 1000,
                kind=2, status_code=2, service="cart", instance="cart-1", host="node-1",
                attributes={"http.status_code": "500"}, events=[{"time_ns": 1, "name": "exception", "attributes": {}}])


def test_migrations_apply_once_and_rerun(ch_client):
    first = migrate(ch_client, Settings())
    assert first and first == sorted(first)
    assert migrate(ch_client, Settings()) == []
    tables = {r[0] for r in ch_client.query("SHOW TABLES").result_rows}
    assert {"spans", "logs", "metrics", "trace_index", "dlq", "schema_migrations"} <= tables


def test_split_statements_drops_comments():
    assert split_statements("-- a; b\nCREATE X;\n\n-- c\nCREATE Y;") == ["CREATE X", "CREATE Y"]


def test_sink_writes_all_tables_and_replays_collapse(ch_client):
    migrate(ch_client, Settings())
    spans = [_span(i) for i in range(50)]
    logs = [LogRecord(time_ns=1_700_000_000_000_000_000, body="boom", severity_number=17, severity_text="ERROR",
                      trace_id="ab" * 16, span_id=f"{1:016x}", service="cart", rules=["exception"], id=f"{i:032x}")
            for i in range(10)]
    points = [MetricPoint(name="cpu", type="histogram", time_ns=1_700_000_000_000_000_000, value=3.0, count=2, sum=3.0,
                          min=1.0, max=2.0, bucket_bounds=[1.0], bucket_counts=[1, 1], quantiles=[(0.5, 1.5)],
                          exemplars=[Exemplar(5, 1.0, "ab" * 16, "cd" * 8)], id="m1")]

    async def run():
        sink = Sink(client_insert(ch_client), max_rows=1000, flush_s=0.05)
        await sink.write({"spans": spans, "logs": logs, "metrics": points})
        await sink.write({"spans": spans[:20], "logs": logs[:3]})  # a replay of part of it
        await sink.close()
        return sink.stats

    stats = asyncio.run(run())
    assert stats.rows["spans"] == 70
    q = ch_client.query
    assert q("SELECT count(), uniqExact(id) FROM spans FINAL").result_rows == [(50, 50)]
    assert q("SELECT count() FROM logs FINAL").result_rows == [(10,)]
    row = q("SELECT trace_id, span_id, status_code, attributes['http.status_code'], events FROM spans FINAL "
            "WHERE span_id = '0000000000000007'").result_rows[0]
    assert row[:4] == ("ab" * 16, "0000000000000007", 2, "500") and "exception" in row[4]
    assert q("SELECT exemplar_trace_ids, quantiles, bucket_counts FROM metrics").result_rows == \
        [(["ab" * 16], [(0.5, 1.5)], [1, 1])]
    # The trace lookup table covers the whole trace.
    assert q(f"SELECT min(start_ns), max(end_ns) FROM trace_index WHERE trace_id = '{'ab' * 16}'").result_rows == \
        [(spans[0].start_ns, spans[-1].end_ns)]


def test_sink_retries_until_the_store_comes_back():
    calls: list[str] = []
    failures = {"left": 3}

    def flaky(table, columns, names):
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("store down")
        calls.append(table)

    async def run():
        sink = Sink(flaky, max_rows=10, flush_s=0.01, retry_max_s=0.05)
        await sink.write({"spans": [_span(1)], "dlq": [("t", 0, 1, "bad", 3, "xyz")]})
        await sink.close()
        return sink.stats

    stats = asyncio.run(run())
    assert stats.failures == 3
    assert calls == ["spans", "dlq"]


def test_writer_resumes_caller_only_after_write():
    written = []

    def slow(table, columns, names):
        written.append(len(columns[0]))

    async def run():
        sink = Sink(slow, max_rows=1_000_000, flush_s=0.2)
        task = asyncio.create_task(sink.write({"spans": [_span(i) for i in range(3)]}))
        await asyncio.sleep(0.05)
        assert not task.done() and written == []  # still buffered: the caller must not ack yet
        await task
        assert written == [3]
        await sink.close()

    asyncio.run(run())


def test_sink_rejects_writes_after_close():
    async def run():
        sink = Sink(lambda *a: None)
        await sink.close()
        with pytest.raises(RuntimeError):
            await sink.write({"spans": [_span(1)]})

    asyncio.run(run())


def test_every_table_has_a_ttl_and_a_changed_retention_is_applied_at_start(ch_client, caplog):
    """retention_days reaches every table (trace_index and clock_offsets included) when the store
    is created, and a later change of the setting is applied by the next start."""
    from pipeline.store.retention import apply_retention, table_ttls

    migrate(ch_client, Settings(retention_days=30))
    ttls = table_ttls(ch_client)
    assert {"spans", "logs", "metrics", "dlq", "trace_index", "correlated_spans", "clock_offsets",
            "trace_docs"} <= set(ttls)
    assert {t: v[1] for t, v in ttls.items() if t != "schema_migrations"} == \
        {t: 30 for t in ttls if t != "schema_migrations"}
    assert ttls["schema_migrations"] is None
    # The next start with another retention: every table follows, nothing else changes.
    assert migrate(ch_client, Settings(retention_days=7)) == []
    after = table_ttls(ch_client)
    assert {t: v[1] for t, v in after.items() if v} == {t: 7 for t in ttls if t != "schema_migrations"}
    assert {t: v[0] for t, v in after.items() if v} == {t: v[0] for t, v in ttls.items() if v}
    assert apply_retention(ch_client, 7) == []  # idempotent: nothing to change the second time
    # The trace lookup's rows carry an ingestion time now, so its TTL can expire them.
    ch_client.command("INSERT INTO spans (id, trace_id, span_id, start_ns, end_ns) VALUES ('x', 't1', 's1', 1, 2)")
    assert ch_client.query("SELECT count() FROM trace_index WHERE trace_id = 't1' "
                           "AND ingested_at > now() - 60").result_rows[0][0] == 1
    # A table a future migration creates without a TTL is named in a warning.
    ch_client.command("CREATE TABLE forgot (x UInt8) ENGINE = MergeTree ORDER BY x")
    with caplog.at_level("WARNING"):
        apply_retention(ch_client, 7)
    assert "forgot" in caplog.text


def test_correlated_rows_wait_only_the_prompt_age_and_go_first_in_their_insert():
    """The join's rows are what the API is asked for right after a trace completes: a
    generation holding them flushes after `prompt_s`, and they are inserted before the input
    rows sharing it; input rows alone still wait `flush_s`."""
    from tests.test_store_insert import _correlated

    order: list[str] = []

    async def run() -> tuple[float, float]:
        sink = Sink(lambda table, columns, names: order.append(table), max_rows=1_000_000, flush_s=0.6,
                    prompt_s=0.01)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await sink.write({"spans": [_span(1)]})
        alone = loop.time() - t0
        t0 = loop.time()
        spans = asyncio.create_task(sink.write({"spans": [_span(2)]}))
        await asyncio.sleep(0.05)
        await sink.write({"correlated_spans": _correlated([1.0])})
        await spans
        prompt = loop.time() - t0
        await sink.close()
        return alone, prompt
    alone, prompt = asyncio.run(run())
    assert alone >= 0.55  # input rows alone keep flush_s
    assert prompt < 0.4  # the correlated row brought the whole generation forward
    assert order == ["spans", "correlated_spans", "spans"]


def test_a_large_generation_keeps_the_usual_age_for_correlated_rows_too():
    """Catching up on a backlog, generations are large: flushing them early only makes more,
    smaller inserts, so past max_rows / PROMPT_SHARE rows the prompt age does not apply."""
    from pipeline.store.writer import PROMPT_SHARE
    from tests.test_store_insert import _correlated

    async def run() -> float:
        sink = Sink(lambda *a: None, max_rows=3 * PROMPT_SHARE, flush_s=0.5, prompt_s=0.01)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        spans = asyncio.create_task(sink.write({"spans": [_span(i) for i in range(3)]}))
        await asyncio.sleep(0.01)
        await sink.write({"correlated_spans": _correlated([1.0])})
        await spans
        took = loop.time() - t0
        await sink.close()
        return took
    assert asyncio.run(run()) >= 0.45
