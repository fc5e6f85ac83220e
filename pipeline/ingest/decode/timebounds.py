"""The plausible range of an event time, checked on every time a record carries.

After the Unix epoch (1970-01-01T00:00:00Z, exclusive) and at most one day past the decoding
machine's clock. Outside it are unset fields read as a date (0001-01-01, negative), sentinels
(9999-12-31), uint64 values past 2^63 (a signed column would store them wrapped to negative)
and clocks running ahead. The lower bound is the epoch rather than a recent year because an
old archive replayed on purpose is real data; the store takes any day (inserts are cut per
partition days, store/failures.py). A record carrying one is refused with a reason (it goes to the DLQ with its
message), except a time read out of a raw log line's text: that is a guess, so the line keeps
its Kafka timestamp and attribute `telecorr.time_out_of_range` holds the rejected reading.
"""

from __future__ import annotations

import time

from pipeline.ingest.decode.result import RecordError

MIN_TIME_NS = 1  # just past 1970-01-01T00:00:00Z
FUTURE_SLACK_NS = 86_400 * 1_000_000_000  # one day past now
OUT_OF_RANGE_ATTR = "telecorr.time_out_of_range"


def max_time_ns() -> int:
    return time.time_ns() + FUTURE_SLACK_NS


def in_range(ns: int) -> bool:
    return MIN_TIME_NS <= ns <= max_time_ns()


def check_time(ns: int, field: str) -> int:
    """`ns` if it is a plausible event time, else RecordError naming the field and the range."""
    if MIN_TIME_NS <= ns <= max_time_ns():
        return ns
    raise RecordError(field, f"{ns} is outside the plausible range (after 1970-01-01, up to now + 1 day)")
