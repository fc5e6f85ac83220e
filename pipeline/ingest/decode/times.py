"""Event times as flat JSON lines give them: integer nanoseconds or RFC 3339 text."""

from __future__ import annotations

import calendar
import re
from datetime import datetime

_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)")


def rfc3339_ns(text: str) -> int | None:
    """Unix nanoseconds of an RFC 3339 timestamp (offset required), None if it is not one.

    Parsed by hand because datetime keeps only microseconds and producers send nanoseconds.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    parts = [int(m[i]) for i in range(1, 7)]
    try:
        when = datetime(*parts)
    except ValueError:
        return None
    tz = m[8]
    offset = 0 if tz in ("Z", "z") else (1 if tz[0] == "+" else -1) * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    seconds = calendar.timegm(when.timetuple()) - offset
    return seconds * 1_000_000_000 + int((m[7] or "").ljust(9, "0"))
