"""Trace and span ids: normalisation, and extraction from message text.

Many services only mention the trace in the text ("traceparent: 00-…", "trace_id=…",
"TraceID: …", "X-B3-TraceId: …"); pulling it out lets such logs join their spans.
"""

from __future__ import annotations

import re

_HEX = re.compile(r"[0-9a-fA-F]+")
_TRACEPARENT = re.compile(r"\b[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}\b", re.I)
_TRACE_KV = re.compile(
    r"(?:x-b3-)?trace[-_. ]?id\"?'?\s*[:=]\s*\"?'?([0-9a-f]{32}|[0-9a-f]{16})(?![0-9a-z])", re.I)
_SPAN_KV = re.compile(
    r"(?:x-b3-)?span[-_. ]?id\"?'?\s*[:=]\s*\"?'?([0-9a-f]{16})(?![0-9a-z])", re.I)


def normalize_trace_id(value: str) -> str:
    """32 lowercase hex chars; 64-bit (16-hex, B3/Jaeger) ids are left-padded with zeros.

    Anything else (wrong length, non-hex, all zeros, which W3C defines as invalid) is ''.
    """
    v = value.strip().lower()
    if len(v) == 16:
        v = "0" * 16 + v
    if len(v) != 32 or not _HEX.fullmatch(v) or v.count("0") == 32:
        return ""
    return v


def normalize_span_id(value: str) -> str:
    """16 lowercase hex chars, or '' when the value is not a valid span id."""
    v = value.strip().lower()
    if len(v) != 16 or not _HEX.fullmatch(v) or v.count("0") == 16:
        return ""
    return v


def extract_ids(text: str) -> tuple[str, str]:
    """(trace_id, span_id) mentioned in free text, '' for what is not there."""
    if "trace" not in text.lower():
        # Every supported spelling contains the word; most lines end here.
        return "", ""
    m = _TRACEPARENT.search(text)
    if m:
        t, s = normalize_trace_id(m.group(1)), normalize_span_id(m.group(2))
        if t:
            return t, s
    m = _TRACE_KV.search(text)
    if not m:
        return "", ""
    trace = normalize_trace_id(m.group(1))
    sm = _SPAN_KV.search(text)
    return trace, normalize_span_id(sm.group(1)) if (sm and trace) else ""
