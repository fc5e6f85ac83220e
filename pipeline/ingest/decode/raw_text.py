"""Raw text log lines: each non-blank line of a message becomes one LogRecord.

Only the line and the Kafka timestamp are known here; a later stage (pipeline/ingest/logs) reads
time, severity and fields out of the text. The Kafka timestamp is the record's time and goes
into its id (records.py), so a line repeated in two messages stays two rows. A line that is
not valid UTF-8 is kept, not refused: its bad bytes become U+FFFD and attribute
`telecorr.invalid_utf8` = "true" says so, because a damaged line is worth more to whoever
investigates an incident than no line at all.
"""

from __future__ import annotations

from pipeline.ingest.decode.records import LogIds, Resource, log_rows_into
from pipeline.ingest.decode.result import DecodeResult, MessageError

INVALID_UTF8_ATTR = "telecorr.invalid_utf8"


def decode_raw_lines(value: bytes, kafka_ns: int, out: DecodeResult, errors: list[str] | None = None,
                     max_lines: int = 0) -> None:
    """Add one log per non-blank line of `value` to `out` (MessageError if there is none).
    With `max_lines`, lines past that many are not read (not even split) and `errors` says so."""
    ids = LogIds()
    res = Resource({})
    rows = []
    lines = value.split(b"\n", max_lines) if max_lines else value.split(b"\n")
    if max_lines and len(lines) > max_lines:
        if lines.pop().strip() and errors is not None:
            errors.append(f"more than {max_lines} lines in one message (max_records_per_message): "
                          "the rest were not read")
    for line in lines:
        if not line or line.isspace():
            continue
        attributes = {}
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", "replace")
            attributes[INVALID_UTF8_ATTR] = "true"
        if text[-1] == "\r":
            text = text[:-1]
        # Raw text carries no time of its own: the Kafka timestamp stands in as the given time.
        rows.append(ids.row(kafka_ns, kafka_ns, kafka_ns, 0, "", text, None, None, attributes, res))
    if not rows:
        raise MessageError("empty message (no non-blank line)")
    log_rows_into(out.logs, rows)
