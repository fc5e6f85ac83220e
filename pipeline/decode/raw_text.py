"""Raw text log lines: each non-blank line of a message becomes one LogRecord.

Only the line and the Kafka timestamp are known here; a later stage (pipeline/logs) reads
time, severity and fields out of the text. A line that is not valid UTF-8 is an error for that
line alone; the other lines of the message are kept.
"""

from __future__ import annotations

from pipeline.decode.records import LogIds, Resource
from pipeline.decode.result import DecodeResult, MessageError


def decode_raw_lines(value: bytes, kafka_ns: int, out: DecodeResult, errors: list[str]) -> None:
    """Add one log per non-blank line of `value` to `out` (MessageError if there is none)."""
    ids = LogIds()
    res = Resource({})
    logs = []
    for n, line in enumerate(value.split(b"\n"), 1):
        if not line or line.isspace():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(f"line {n}: invalid UTF-8 at byte {exc.start}")
            continue
        if text[-1] == "\r":
            text = text[:-1]
        logs.append(ids.make(0, kafka_ns, kafka_ns, 0, "", text, None, None, {}, res))
    if not logs and not errors:
        raise MessageError("empty message (no non-blank line)")
    out.logs.extend(logs)
