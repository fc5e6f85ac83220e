"""Trace id normalisation for lookups: 32 lowercase hex, as stored."""

from __future__ import annotations

import re

_HEX = re.compile(r"[0-9a-fA-F]+")


class TraceIdError(ValueError):
    """A trace id that is not 16 or 32 hex digits; the message says what is wrong."""


def normalise_trace_id(raw: str) -> str:
    """32 lowercase hex digits. A 16-digit id (64-bit B3/Jaeger ids) is left-padded with
    zeros, the same widening W3C trace context and B3 interop use; all zeros is invalid."""
    if not _HEX.fullmatch(raw or ""):
        raise TraceIdError(f"trace id {raw!r} must be hexadecimal (32 digits, or 16 for a 64-bit id)")
    if len(raw) not in (16, 32):
        raise TraceIdError(f"trace id {raw!r} has {len(raw)} hex digits; expected 32 (or 16 for a 64-bit id)")
    tid = raw.lower().rjust(32, "0")
    if tid == "0" * 32:
        raise TraceIdError("trace id of all zeros is invalid (W3C trace context)")
    return tid
