"""What a dead-lettered message becomes: the DLQ topic's value and headers, and the `dlq` row.

One place for both agents (undecodable input, unreadable by-trace messages), so the DLQ
looks the same whoever writes it.
"""

from __future__ import annotations

import re
from collections import Counter

import orjson

from pipeline.kafka.io import MAX_REQUEST_BYTES

PREVIEW_BYTES = 512  # of the original value, in the `dlq` row
# The original bytes go back out with headers added, so a message near the broker's limit
# would be refused on the way to the DLQ, and a refused send stops the worker: every restart
# would meet the same message. Beyond this size only the head is kept, and a header says so.
MAX_DLQ_VALUE_BYTES = MAX_REQUEST_BYTES - 64 * 1024


Letter = tuple[bytes, list[tuple[str, bytes]], tuple]  # DLQ value, its headers, the `dlq` row


def dlq_message(topic: str, partition: int, offset: int, value: bytes | None, reason: str) -> Letter:
    """(value, headers) for the DLQ topic and the `dlq` table row for one message."""
    value = value or b""
    headers = [("telecorr.reason", reason.encode()), ("telecorr.source.topic", topic.encode()),
               ("telecorr.source.partition", str(partition).encode()),
               ("telecorr.source.offset", str(offset).encode())]
    out = value
    if len(value) > MAX_DLQ_VALUE_BYTES:
        out = value[:MAX_DLQ_VALUE_BYTES]
        headers.append(("telecorr.truncated_from", str(len(value)).encode()))
    row = (topic, partition, offset, reason, len(value),
           value[:PREVIEW_BYTES].decode("utf-8", "backslashreplace"))
    return out, headers, row


SUMMARY_KINDS = 5  # distinct reasons counted in a message's summary
SUMMARY_FIRST = 3  # reasons quoted in full (with their record's path)
MAX_REASON_CHARS = 2000
# "line 12: " or "resourceSpans[0].scopeSpans[0].spans[3].spanId: ": where, not what.
_WHERE = re.compile(r"^(?:line \d+|[A-Za-z_]+\[\d+\](?:\.[A-Za-z_]+(?:\[\d+\])?)*): ")


def summarise(reasons: list[str]) -> str:
    """One reason for a message with several bad records: how many, per kind of problem, and
    the first few in full. The message then goes to the DLQ once, whatever the count (a 150 KB
    message of 50,000 bad lines once put 7.5 GB on the DLQ, one copy per line)."""
    if len(reasons) == 1:
        return reasons[0][:MAX_REASON_CHARS]
    kinds = Counter(_WHERE.sub("", r, count=1) for r in reasons)
    counted = "; ".join(f"{n}x {kind[:200]}" for kind, n in kinds.most_common(SUMMARY_KINDS))
    more = f"; {len(kinds) - SUMMARY_KINDS} more kinds" if len(kinds) > SUMMARY_KINDS else ""
    first = " | ".join(r[:300] for r in reasons[:SUMMARY_FIRST])
    return f"{len(reasons)} bad records: {counted}{more}; first: {first}"[:MAX_REASON_CHARS]


def per_message(errors: list) -> list[tuple[int, str, int]]:
    """(message index, summarised reason, number of problems) per bad message, in order."""
    grouped: dict[int, list[str]] = {}
    for err in errors:
        grouped.setdefault(err.index, []).append(err.reason)
    return [(i, summarise(rs), len(rs)) for i, rs in sorted(grouped.items())]


def store_rejection(table: str, record: object, reason: str) -> Letter:
    """A row ClickHouse refused for good (store/failures.py), as a dead letter: the record as
    JSON, from pseudo-topic `store.<table>` (its Kafka source is not known by then)."""
    try:
        value = orjson.dumps(record, default=repr)
    except TypeError:  # e.g. a lone surrogate: keep what can be shown
        value = repr(record).encode("utf-8", "backslashreplace")
    return dlq_message(f"store.{table}", -1, -1, value, f"rejected by the store: {reason}")
