"""The batching, retrying, idempotent ClickHouse writer.

Callers `await sink.write({table: records})` and are resumed only once the flush holding their
records has been written: that is what lets the Kafka side acknowledge (and so commit) a
message only after its effect is stored. Rows are buffered across callers and flushed on size
or age; a failing ClickHouse is retried with capped exponential backoff for as long as it takes,
and since callers stay suspended meanwhile, consumption pauses instead of losing data. Row ids
are deterministic and the tables are ReplacingMergeTree, so a retried or replayed insert
collapses instead of double-counting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from math import isfinite

import orjson

from pipeline.column_batch import ColumnBatch
from pipeline.shuffle.deadletter import Letter, store_rejection
from pipeline.model import CorrelatedSpan, LogRecord, MetricPoint, Span
from pipeline.store import columnar as rows
from pipeline.store.failures import day_chunks, is_permanent, reason_of
from pipeline.store.tables import float_columns, input_table, int_columns

log = logging.getLogger("telecorr.store")

# How each table turns records into columns.
TABLES: dict[str, tuple[Sequence[str], Callable[[list], list[list]]]] = {
    "spans": (rows.SPAN_COLUMNS, rows.span_columns),
    "logs": (rows.LOG_COLUMNS, rows.log_columns),
    "metrics": (rows.METRIC_COLUMNS, rows.metric_columns),
    "dlq": (rows.DLQ_COLUMNS, rows.dlq_columns),
    "correlated_spans": (rows.CORRELATED_COLUMNS, rows.correlated_columns),
    "clock_offsets": (rows.OFFSET_COLUMNS, rows.offset_columns),
}

# Rows someone is waiting to query as soon as possible (the join's output, read by the API within
# a second of a trace completing): a generation holding them flushes after `prompt_s`, not
# `flush_s`, and they are inserted before the input tables' rows of the same generation.
PROMPT_TABLES = ("correlated_spans", "clock_offsets")
# ... while the generation is small: a live stream's. Catching up on a backlog, a generation
# passes max_rows / PROMPT_SHARE rows within the prompt age, and flushing it early made more,
# smaller inserts (correlate.py e2e 9.0k -> 6.6-7.3k records/s); there the usual age applies.
PROMPT_SHARE = 20

InsertFn = Callable[[str, list[list], Sequence[str]], None]
# Where rows a permanent store failure rejected are announced (the worker: the DLQ topic).
RejectFn = Callable[[list["Letter"]], Awaitable[None]]


# Tables with no float columns. orjson writes NaN and ±inf as null, so these always take the
# JSON path.
JSON_TABLES = frozenset({"spans", "logs", "dlq"})
# Tables with float columns: JSON only when no float column holds a NaN or ±inf (orjson writes
# them as null; Native carries them) and the server parses floats exactly (precise_float_parsing).
JSON_IF_FINITE = frozenset({"metrics", "correlated_spans"})

# Every table is read with FINAL (ReplacingMergeTree) or fed by a GROUP BY view
# (AggregatingMergeTree), so collapsing duplicates inside each inserted block buys nothing and
# costs a sort-and-merge of every block; measured on chDB it nearly halved span insert speed.
INSERT_SETTINGS = {"optimize_on_insert": 0}
# The shortest round-trip text orjson writes for a float parses back to the same bits only with
# the precise algorithm (the fast one was off by an ulp for ~22 % of random doubles here).
EXACT_FLOATS = {"precise_float_parsing": 1}


def client_insert(client) -> InsertFn:
    """Adapt a clickhouse-connect client to the writer's column-oriented insert call.

    Where it is exact, the columns go as one JSONCompactColumns document built by orjson:
    serialising in C holds the GIL for a fraction of the time clickhouse-connect's Python
    Native serialiser does, and ClickHouse parses the document without the GIL, so decoding
    the next batch keeps running meanwhile. The document goes to the table's Null-engine twin
    when it has one (tables.input_table: LowCardinality columns parsed as String and cast in one
    pass, schemas/008). Anything orjson refuses (a lone surrogate, an int beyond 64 bits) or
    ClickHouse rejects in that form is sent again through the Native insert into the table
    itself, which raises if the store itself is failing; rows have deterministic ids, so a
    repeat collapses.
    """
    exact_floats = "precise_float_parsing" in getattr(client, "server_settings", {})
    json_tables = JSON_TABLES | (JSON_IF_FINITE if exact_floats else frozenset())
    float_settings = {**INSERT_SETTINGS, **EXACT_FLOATS}

    def insert(table: str, columns: list[list], names: Sequence[str]) -> None:
        if table in json_tables:
            finite_at, nullable_at, ints_at = _json_checks(table, tuple(names))
            data = _json_document(columns, finite_at, nullable_at, ints_at)
            if data is not None:
                settings = float_settings if finite_at or nullable_at else INSERT_SETTINGS
                try:
                    client.raw_insert(input_table(table), list(names), data, settings=settings,
                                      fmt="JSONCompactColumns")
                    return
                except Exception as exc:  # noqa: BLE001 - the Native insert below decides
                    log.debug("JSON insert into %s failed (%s); using Native", table, exc)
        client.insert(table, columns, column_names=list(names), column_oriented=True,
                      settings=INSERT_SETTINGS)
    return insert


@lru_cache(maxsize=64)
def _json_checks(table: str, names: tuple[str, ...]) -> tuple[list[int], list[int], tuple]:
    """What a JSON insert of these columns must check, by position, worked out once from the
    DDL: float columns that must be finite, Nullable float ones, and (position, lowest,
    highest, shape) of each integer column."""
    floats, nullable = float_columns(table) if table in JSON_IF_FINITE else (frozenset(), frozenset())
    at = {name: i for i, name in enumerate(names)}
    return ([i for i, name in enumerate(names) if name in floats],
            [i for i, name in enumerate(names) if name in nullable],
            tuple((at[n], lo, hi, shape) for n, lo, hi, shape in int_columns(table) if n in at))


def _in_range(column: list, lo: int, hi: int, shape: str) -> bool:
    """Every integer of the column (its values, array items or map values) fits [lo, hi]."""
    values = column if not shape else \
        list(chain.from_iterable(column if shape == "array" else (m.values() for m in column)))
    values = [v for v in values if v is not None] if None in values else values
    return not values or (lo <= min(values) and max(values) <= hi)


def _json_document(columns: list[list], finite_at: list[int], nullable_at: list[int],
                   ints_at: tuple[tuple[int, int, int, str], ...] = ()) -> bytes | None:
    """The columns as one JSON document, or None where JSON cannot carry them exactly: a value
    orjson refuses, an integer beyond its column's type (ClickHouse would wrap it where Native
    refuses it), or a NaN/±inf in a float column (orjson writes those as null, which a
    Nullable column would store as NULL). Columns of `finite_at` are checked in C (a map key
    reading "null" there only costs a Native insert), the few Nullable ones value by value."""
    if not all(_in_range(columns[i], lo, hi, shape) for i, lo, hi, shape in ints_at):
        return None
    try:
        data = orjson.dumps(columns)
    except TypeError:
        return None
    if finite_at and b"null" in orjson.dumps([columns[i] for i in finite_at]):
        return None
    for i in nullable_at:
        if not all(v is None or isfinite(v) for v in columns[i]):
            return None
    return data


_COLUMNAR = {"spans": Span, "logs": LogRecord, "metrics": MetricPoint, "correlated_spans": CorrelatedSpan}


def _empty_buffers(tables: dict) -> dict[str, list | ColumnBatch]:
    """One buffer per table; spans, logs, metric points and correlated rows arrive as columns
    (pipeline/column_batch.py) and stay columns, and a columnar buffer takes lists of records
    too."""
    return {t: ColumnBatch(_COLUMNAR[t]) if t in _COLUMNAR else [] for t in tables}


@dataclass
class SinkStats:
    rows: dict[str, int] = field(default_factory=dict)
    flushes: int = 0
    failures: int = 0
    last_error: str = ""
    last_flush_s: float = 0.0
    rejected: dict[str, int] = field(default_factory=dict)  # rows a permanent failure dead-lettered


class Sink:
    """Buffers rows for several tables and flushes them together on size or age (the shorter
    `prompt_s` once PROMPT_TABLES rows are waiting in a small generation; None: `flush_s` for
    every table)."""

    def __init__(self, insert: InsertFn, max_rows: int = 20000, flush_s: float = 1.0,
                 retry_max_s: float = 30.0, on_reject: RejectFn | None = None,
                 prompt_s: float | None = None) -> None:
        self._insert = insert
        self.on_reject = on_reject
        self._max_rows = max_rows
        self._flush_s = flush_s
        self._prompt_s = flush_s if prompt_s is None else min(prompt_s, flush_s)
        self._retry_max_s = retry_max_s
        self._tables = TABLES
        self._buffers: dict[str, list | ColumnBatch] = _empty_buffers(self._tables)
        self._pending_rows = 0
        self._generation: asyncio.Future | None = None
        self._first_pending = 0.0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telecorr-sink")
        self.stats = SinkStats(rows={t: 0 for t in self._tables})

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="telecorr-sink")

    async def write(self, batch: dict[str, list | ColumnBatch]) -> None:
        """Buffer records (lists, or columnar batches) per table; return once they are
        durably in ClickHouse."""
        n = sum(len(v) for v in batch.values())
        if n == 0:
            return
        if self._closing:
            raise RuntimeError("sink is closed")
        self.start()
        for table, recs in batch.items():
            if recs:
                self._buffers[table].extend(recs)
        if self._generation is None:
            self._generation = asyncio.get_running_loop().create_future()
            self._first_pending = time.monotonic()
            self._wake.set()
        if self._prompt_s < self._flush_s and self._pending_rows + n <= self._max_rows // PROMPT_SHARE \
                and any(batch.get(t) for t in PROMPT_TABLES):
            due = time.monotonic() - self._flush_s + self._prompt_s  # as if pending since then
            if due < self._first_pending:
                self._first_pending = due
                self._wake.set()
        fut = self._generation
        self._pending_rows += n
        if self._pending_rows >= self._max_rows:
            self._wake.set()
        await asyncio.shield(fut)

    async def flush(self) -> None:
        """Write everything buffered now (used before exit and by tests)."""
        if self._generation is not None:
            fut = self._generation
            self._first_pending = 0.0
            self._wake.set()
            await asyncio.shield(fut)

    async def close(self) -> None:
        await self.flush()
        self._closing = True
        if self._task is not None:
            self._wake.set()
            await self._task
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._generation is None:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._first_pending + self._flush_s - time.monotonic()
            if self._pending_rows < self._max_rows and wait > 0 and not self._closing:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                except asyncio.TimeoutError:
                    pass
                continue
            fut, buffers = self._generation, self._buffers
            self._generation, self._pending_rows = None, 0
            self._buffers = _empty_buffers(self._tables)
            try:
                await self._write_with_retry(loop, buffers)
            except BaseException as exc:  # cancelled on shutdown: callers must not ack
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("sink stopped"))
                raise
            fut.set_result(None)

    async def _write_with_retry(self, loop: asyncio.AbstractEventLoop, buffers: dict[str, list]) -> None:
        """Store every buffered table; rows a permanent failure rejects join the DLQ table,
        which goes last; the PROMPT_TABLES go first."""
        order = [t for t in PROMPT_TABLES if buffers.get(t)] + \
            [t for t, recs in buffers.items() if recs and t != "dlq" and t not in PROMPT_TABLES]
        for table in order:
            rejected: list[tuple[object, str]] = []
            for chunk in day_chunks(table, buffers[table]):
                rejected += await self._store(loop, table, chunk)
            self.stats.rows[table] += len(buffers[table]) - len(rejected)
            if rejected:
                self.stats.rejected[table] = self.stats.rejected.get(table, 0) + len(rejected)
                letters = [store_rejection(table, rec, reason) for rec, reason in rejected]
                if self.on_reject is not None:
                    await self.on_reject(letters)
                buffers["dlq"] = buffers.get("dlq", []) + [row for _, _, row in letters]
        if buffers.get("dlq"):
            lost = await self._store(loop, "dlq", buffers["dlq"])
            for rec, reason in lost:  # nowhere left to put them: say so loudly
                log.error("dead-letter row rejected by the store (%s): %r", reason, rec)
            self.stats.rows["dlq"] += len(buffers["dlq"]) - len(lost)

    async def _store(self, loop: asyncio.AbstractEventLoop, table: str, records: list) -> list[tuple[object, str]]:
        """Insert `records`, retrying transient failures for as long as it takes; returns the
        records a permanent failure isolated, each with its reason (store/failures.py)."""
        delay = 0.25
        while True:
            try:
                return await self._isolate(loop, table, records)
            except Exception as exc:  # noqa: BLE001 - transient: retried, never dropped
                self.stats.failures += 1
                self.stats.last_error = f"{table}: {exc}"
                log.warning("insert into %s failed (%s); retrying in %.1fs", table, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)

    async def _isolate(self, loop: asyncio.AbstractEventLoop, table: str, records: list) -> list[tuple[object, str]]:
        """Insert; on a permanent failure split in halves until the failing rows stand alone.
        A transient failure propagates (the caller retries the whole run; ids collapse repeats)."""
        names, to_columns = self._tables[table]
        started = time.monotonic()
        try:
            await loop.run_in_executor(self._executor, self._insert, table, to_columns(records), names)
        except Exception as exc:
            if not is_permanent(exc):
                raise
            if len(records) == 1:
                log.warning("insert into %s: one row rejected for good (%s)", table, exc)
                return [(records[0], reason_of(exc))]
            half = len(records) // 2
            return await self._isolate(loop, table, records[:half]) + await self._isolate(loop, table, records[half:])
        self.stats.flushes += 1
        self.stats.last_flush_s = time.monotonic() - started
        return []
