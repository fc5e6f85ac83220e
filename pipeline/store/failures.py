"""Which store failures are worth retrying, and how inserts are cut so one never spans too many
partitions.

A transient failure (the server unreachable, a timeout, memory or merge pressure) goes away by
itself: the writer retries it with backoff, as long as it takes. A permanent one (a value the
column cannot hold, text that does not parse, too many partitions in one block) fails the same
way however often it is retried: retrying it stalls every table behind it for good. The
writer therefore never retries a permanent failure: it splits the batch until the rows that
fail alone are found, dead-letters those and stores the rest (the model is Vector's ClickHouse
sink). An unknown ClickHouse code counts as transient: stalling is recoverable, dead-lettering
good rows because of a misread code is not.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError, ProgrammingError

from pipeline.column_batch import ColumnBatch
from pipeline.store.client import error_code

# ClickHouse error codes that depend on the rows sent, never on the server's state.
PERMANENT_CODES = frozenset({
    6,    # CANNOT_PARSE_TEXT
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,   # ATTEMPT_TO_READ_AFTER_EOF (a truncated value inside the block)
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    131,  # TOO_LARGE_STRING_SIZE
    190,  # SIZES_OF_ARRAYS_DOESNT_MATCH
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    407,  # DECIMAL_OVERFLOW
    467,  # CANNOT_PARSE_BOOL
})
TOO_MANY_PARTS = 252  # shared by "too many parts" (merge pressure: transient) and
# "too many partitions for single INSERT block" (the rows' spread: permanent)

# Days one insert block may span; ClickHouse refuses more than 100 partitions per block by
# default (max_partitions_per_insert_block), and every table is partitioned by day.
MAX_DAYS_PER_INSERT = 50
_DAY_NS = 86_400 * 1_000_000_000
# The time column each day-partitioned table is partitioned by.
PARTITION_TIME = {"spans": "start_ns", "logs": "time_ns", "metrics": "time_ns",
                  "correlated_spans": "orig_start_ns"}


def is_permanent(exc: BaseException) -> bool:
    """True when sending the same rows again cannot succeed (see the module docstring)."""
    if isinstance(exc, (OperationalError, ConnectionError, TimeoutError, OSError)):
        return False
    if isinstance(exc, (DataError, ProgrammingError, ValueError, TypeError, OverflowError, struct.error)):
        return True  # the client could not serialise a value: the row, not the server
    if isinstance(exc, DatabaseError):
        code = error_code(exc)
        if code == TOO_MANY_PARTS:
            return "partitions" in str(exc).lower()
        return code in PERMANENT_CODES
    return False


def reason_of(exc: BaseException) -> str:
    """A one-line reason for the dead-letter row."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def day_chunks(table: str, records: list | ColumnBatch) -> Iterator[list | ColumnBatch]:
    """`records` cut into runs spanning at most MAX_DAYS_PER_INSERT partition days each (in
    day order); one run, untouched, in the usual case of a batch covering a few days. A
    columnar batch is read by its time column and cut into columnar batches."""
    attr = PARTITION_TIME.get(table)
    if attr is None or len(records) < 2:
        yield records
        return
    times = records.cols[attr] if type(records) is ColumnBatch else [getattr(r, attr) for r in records]
    days = [t // _DAY_NS for t in times]
    if len(set(days)) <= MAX_DAYS_PER_INSERT:
        yield records
        return
    order = sorted(range(len(records)), key=days.__getitem__)
    chunk: list[int] = []
    seen: set[int] = set()
    for i in order:
        if days[i] not in seen and len(seen) == MAX_DAYS_PER_INSERT:
            yield _rows(records, chunk)
            chunk, seen = [], set()
        seen.add(days[i])
        chunk.append(i)
    yield _rows(records, chunk)


def _rows(records: list | ColumnBatch, indexes: list[int]) -> list | ColumnBatch:
    return records.take(indexes) if type(records) is ColumnBatch else [records[i] for i in indexes]
