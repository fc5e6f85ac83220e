"""Test helper: records <-> by-trace v2 columns (the contract in docs/architecture.md).

The producer side lives in pipeline/shuffle/route.py (another branch); until both are merged, the
consumer is tested against messages this helper writes.
"""

from __future__ import annotations

import dataclasses

import orjson

from pipeline.model import LogRecord, Span


def columns(records: list, cls: type) -> dict[str, list]:
    """Every field of `cls` as one array over `records`, values as v1 JSON has them."""
    names = [f.name for f in dataclasses.fields(cls)]
    rows = orjson.loads(orjson.dumps(records))  # the same JSON value types as v1 objects
    return {name: [r[name] for r in rows] for name in names}


def v2_message(spans: list[Span], logs: list[LogRecord], progress: dict | None = None) -> bytes:
    doc: dict = {"v": 2, "spans": columns(spans, Span), "logs": columns(logs, LogRecord)}
    if progress:
        doc["progress"] = progress
    return orjson.dumps(doc)


def v1_message(spans: list[Span], logs: list[LogRecord], progress: dict | None = None) -> bytes:
    doc: dict = {"spans": spans, "logs": logs}
    if progress:
        doc["progress"] = progress
    return orjson.dumps(doc)
