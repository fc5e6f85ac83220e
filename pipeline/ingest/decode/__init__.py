"""Decoders: Kafka message values in, normalised Span/LogRecord/MetricPoint batches out.

`decode_batch(kind, values, timestamps_ns)` never raises for bad input: every problem becomes
a DecodeError naming the message (its index in the batch) and, where it is one record, that
record's path; the good records are still returned, including those that share a message
with a bad one (a message may therefore have several errors). A message that cannot be read
at all (truncated protobuf, bad JSON, wrong top-level type, empty) is one error and yields
no records. Id rules are in records.py; the flat event format is schemas/event.schema.json.
"""

from __future__ import annotations

from pipeline.ingest.decode.events import decode_events
from pipeline.ingest.decode.limits import Limits, enforce
from pipeline.ingest.decode.otlp import TOP_LEVEL, decode_otlp
from pipeline.ingest.decode.raw_text import decode_raw_lines
from pipeline.ingest.decode.result import DecodeError, DecodeResult, MessageError
from pipeline.ingest.framing import FramingError, gunzip

KINDS = (*TOP_LEVEL, "events", "raw_logs")
DEFAULT_LIMITS = Limits()

__all__ = ["KINDS", "DecodeError", "DecodeResult", "Limits", "decode_batch"]


def decode_batch(kind: str, values: list[bytes], timestamps_ns: list[int], limits: Limits | None = None) -> DecodeResult:
    """Decode a batch of Kafka message values of one logical topic `kind` (see KINDS).

    `timestamps_ns` are the messages' Kafka timestamps, used where the producer gave no time.
    `limits` bounds values, records and records per message (limits.py; defaults if None).
    Raises ValueError only for caller mistakes (unknown kind, lists of different lengths).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown decoder kind {kind!r}; expected one of {', '.join(KINDS)}")
    if len(values) != len(timestamps_ns):
        raise ValueError(f"{len(values)} values but {len(timestamps_ns)} timestamps")
    limits = limits or DEFAULT_LIMITS
    out = DecodeResult()
    for index, (value, ts) in enumerate(zip(values, timestamps_ns)):
        errors: list[str] = []
        if type(value) is not bytes:
            value = bytes(value) if value is not None else b""  # bytearray/memoryview; None = tombstone
        first = (len(out.spans), len(out.logs), len(out.metrics))
        try:
            value = gunzip(value, limits.batch_bytes)
            if kind == "raw_logs":
                decode_raw_lines(value, ts, out, errors, limits.records_per_message)
            elif kind == "events":
                decode_events(value, ts, out, errors, limits.records_per_message)
            else:
                decode_otlp(kind, value, ts, out, errors)
        except (MessageError, FramingError) as exc:
            errors = [str(exc)]
        except RecursionError:
            errors = ["message nested too deeply to decode"]
        except Exception as exc:  # last resort: a decoder bug must not stop the worker
            errors = [f"internal decoder error ({type(exc).__name__}: {exc}); please report"]
        enforce(out, first, limits, errors)
        out.errors.extend(DecodeError(index, reason) for reason in errors)
        for stamps, start in ((out.spans.cols["kafka_ns"], first[0]), (out.logs.cols["kafka_ns"], first[1])):
            if len(stamps) > start:
                stamps[start:] = [ts] * (len(stamps) - start)
    return out
