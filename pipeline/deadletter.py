"""What a dead-lettered message becomes: the DLQ topic's value and headers, and the `dlq` row.

One place for both agents (undecodable input, unreadable by-trace messages), so the DLQ
looks the same whoever writes it.
"""

from __future__ import annotations

import orjson

from pipeline.kafka_io import MAX_REQUEST_BYTES

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


def store_rejection(table: str, record: object, reason: str) -> Letter:
    """A row ClickHouse refused for good (store/failures.py), as a dead letter: the record as
    JSON, from pseudo-topic `store.<table>` (its Kafka source is not known by then)."""
    try:
        value = orjson.dumps(record, default=repr)
    except TypeError:  # e.g. a lone surrogate: keep what can be shown
        value = repr(record).encode("utf-8", "backslashreplace")
    return dlq_message(f"store.{table}", -1, -1, value, f"rejected by the store: {reason}")
