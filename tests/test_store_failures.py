"""Permanent store failures are isolated and dead-lettered, transient ones retried, and a batch
spanning many days is stored (real chDB)."""

from __future__ import annotations

import asyncio

from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from pipeline.config import Settings
from pipeline.store.failures import MAX_DAYS_PER_INSERT, day_chunks, is_permanent
from pipeline.store.migrate import migrate
from pipeline.store.writer import Sink, client_insert
from tests.test_store import _span

DAY = 86_400 * 1_000_000_000


def test_failures_are_classified_by_code_and_kind():
    assert is_permanent(DatabaseError("Code: 27. DB::Exception: Cannot parse input"))
    assert is_permanent(DatabaseError("Code: 252. DB::Exception: Too many partitions for single INSERT block"))
    assert not is_permanent(DatabaseError("Code: 252. DB::Exception: Too many parts (300). Merges are slow"))
    assert not is_permanent(DatabaseError("Code: 241. DB::Exception: Memory limit (total) exceeded"))
    assert not is_permanent(DatabaseError("Code: 999. something new"))  # unknown: retried, never dropped
    assert not is_permanent(OperationalError("Error HTTPConnectionPool: connection refused"))
    assert not is_permanent(ConnectionError("down"))
    assert is_permanent(DataError("Unable to create native array for column `start_ns`"))
    assert is_permanent(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"))


def test_day_chunks_keep_every_record_and_bound_the_days():
    spans = [_span(i) for i in range(400)]
    for i, s in enumerate(spans):
        s.start_ns = s.end_ns = 1_600_000_000_000_000_000 + (i % 160) * DAY
    chunks = list(day_chunks("spans", spans))
    assert sorted(id(s) for c in chunks for s in c) == sorted(id(s) for s in spans)
    assert all(len({s.start_ns // DAY for s in c}) <= MAX_DAYS_PER_INSERT for c in chunks)
    assert len(chunks) == 4
    few = spans[:30]
    assert list(day_chunks("spans", few)) == [few]  # the common case is left alone


def test_a_permanently_bad_row_is_dead_lettered_and_the_rest_stored(ch_client):
    migrate(ch_client, Settings())
    spans = [_span(i) for i in range(200)]
    spans[37].name = "lone \ud800 surrogate"  # not UTF-8: neither encoding can carry it
    spans[150].end_ns = 2**64 + 5  # beyond 64 bits
    letters = []

    async def announce(batch):
        letters.extend(batch)

    async def run():
        sink = Sink(client_insert(ch_client), max_rows=1000, flush_s=0.01, on_reject=announce)
        await sink.write({"spans": spans})
        await sink.close()
        return sink.stats

    stats = asyncio.run(run())
    q = ch_client.query
    assert q("SELECT count() FROM spans FINAL").result_rows == [(198,)]
    assert stats.rejected == {"spans": 2} and stats.rows["spans"] == 198 and stats.failures == 0
    assert q("SELECT topic, partition, offset FROM dlq ORDER BY reason").result_rows == [("store.spans", -1, -1)] * 2
    reasons = [r for (r,) in q("SELECT reason FROM dlq").result_rows]
    assert all(r.startswith("rejected by the store: ") for r in reasons)
    assert sorted(b"%016x" % i in v for v, _, _ in letters for i in (37, 150)) == [False, False, True, True]


def test_an_archive_spanning_months_is_stored_whole(ch_client):
    migrate(ch_client, Settings())
    spans = [_span(i) for i in range(303)]
    for i, s in enumerate(spans):
        s.start_ns = 1_600_000_000_000_000_000 + (i % 101) * DAY * 3
        s.end_ns = s.start_ns + 1000

    async def run():
        sink = Sink(client_insert(ch_client), max_rows=10_000, flush_s=0.01)
        await sink.write({"spans": spans})
        await sink.close()
        return sink.stats

    stats = asyncio.run(run())
    assert ch_client.query("SELECT count(), uniqExact(toDate(fromUnixTimestamp64Nano(start_ns))) "
                           "FROM spans FINAL").result_rows == [(303, 101)]
    assert stats.failures == 0 and not stats.rejected


def test_transient_failures_are_retried_not_dead_lettered():
    calls = []
    left = {"n": 2}

    def flaky(table, columns, names):
        if left["n"]:
            left["n"] -= 1
            raise DatabaseError("Code: 241. DB::Exception: Memory limit (total) exceeded")
        calls.append((table, len(columns[0])))

    async def run():
        sink = Sink(flaky, max_rows=10, flush_s=0.01, retry_max_s=0.02)
        await sink.write({"spans": [_span(i) for i in range(5)]})
        await sink.close()
        return sink.stats

    stats = asyncio.run(run())
    assert calls == [("spans", 5)] and stats.failures == 2 and not stats.rejected
