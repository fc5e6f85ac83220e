"""One reader for every time the API accepts: RFC 3339 text or integer Unix nanoseconds.

Used by log search now and by the root-cause window later, so both read `from`/`to` alike.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})")
_DIGITS = re.compile(r"-?\d{1,19}")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Stored times are Int64 nanoseconds; anything outside that cannot name a stored row.
_MIN_NS, _MAX_NS = -(2**63), 2**63 - 1


class TimeFormatError(ValueError):
    """A time that is neither RFC 3339 nor Unix nanoseconds; the message quotes it."""


def parse_time_ns(value: str | int) -> int:
    """Unix nanoseconds from RFC 3339 (`2026-11-22T10:02:00.5Z`, offset required) or from an
    integer (or a string of digits) already in Unix nanoseconds."""
    if isinstance(value, bool):
        raise TimeFormatError(f"expected RFC 3339 or Unix nanoseconds, got {value!r}")
    if isinstance(value, int):
        ns = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        ns = int(value.strip())
    elif isinstance(value, str):
        ns = _rfc3339_ns(value.strip())
    else:
        raise TimeFormatError(f"expected RFC 3339 or Unix nanoseconds, got {value!r}")
    if not _MIN_NS <= ns <= _MAX_NS:
        raise TimeFormatError(f"time {value!r} is outside the range of 64-bit Unix nanoseconds")
    return ns


def _rfc3339_ns(text: str) -> int:
    m = _RFC3339.fullmatch(text)
    if not m:
        raise TimeFormatError(f"time {text!r} is neither RFC 3339 (e.g. 2026-11-22T10:02:00Z) "
                              "nor Unix nanoseconds")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7) or "", m.group(8)
    if zone in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise TimeFormatError(f"time {text!r} has an invalid UTC offset {zone}")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError as exc:
        raise TimeFormatError(f"time {text!r} is not a valid date and time: {exc}") from exc
    whole = (dt - _EPOCH) // timedelta(seconds=1)
    return whole * 1_000_000_000 + int(frac.ljust(9, "0") or 0)
