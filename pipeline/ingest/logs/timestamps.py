"""Timestamps in the shapes logs use, to integer Unix nanoseconds.

Integer arithmetic throughout (no float seconds) so nanosecond stamps survive exactly.
Stamps without a zone are read in a configured default zone.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}

# 2024-01-02T03:04:05.123456789Z, 2024-01-02 03:04:05,123 +01:00, 2024/01/02 03:04:05
_ISO = re.compile(
    r"(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"\s?(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?(?![\d])")
# Jan  2 15:04:05 (RFC 3164, no year), optionally with fraction.
_BSD = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?![\d])")
# 02/Jan/2006:15:04:05 -0700 (Apache / nginx common log format).
_CLF = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?: ([+-]\d{4}))?")
# Mon, 02 Jan 2006 15:04:05 -0700 (RFC 1123 / 2822).
_RFC1123 = re.compile(
    r"(?:[A-Z][a-z]{2}, )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2})"
    r"(?: (GMT|UTC|[+-]\d{4}))?")
_CLOCK = re.compile(r"\d:\d\d:\d")
_EPOCH = re.compile(r"(\d{9,19})(?:\.(\d{1,9}))?")

_NS = 1_000_000_000
# Plausible log times: 2001-09-09 .. 2286; guards against reading ids or counters as stamps.
_MIN_S, _MAX_S = 1_000_000_000, 9_999_999_999


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _offset_s(zone: str | None) -> int | None:
    """Seconds east of UTC for 'Z', '+0100', '-07:00', 'UTC'; None when no zone was given."""
    if not zone:
        return None
    if zone in ("Z", "z", "UTC", "GMT"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) >= 4 else 0
    return sign * (hours * 3600 + minutes * 60)


def _fraction_ns(frac: str | None) -> int:
    return int(frac.ljust(9, "0")) if frac else 0


def _to_ns(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str | None,
           offset: int | None, default_tz: str) -> int | None:
    try:
        if offset is None:
            tz = _zone(default_tz)
            if tz is not None and default_tz not in ("UTC", "Etc/UTC"):
                local = datetime(y, mo, d, h, mi, min(s, 59), tzinfo=tz)
                secs = int(local.timestamp())
            else:
                secs = calendar.timegm((y, mo, d, h, mi, min(s, 59), 0, 0, 0))
        else:
            datetime(y, mo, d, h, mi, min(s, 59))  # validates the calendar fields
            secs = calendar.timegm((y, mo, d, h, mi, min(s, 59), 0, 0, 0)) - offset
    except (ValueError, OverflowError):
        return None
    return secs * _NS + _fraction_ns(frac)


def parse_epoch(value: str | int | float) -> int | None:
    """Unix time in s, ms, µs or ns (told apart by magnitude) to ns; None if implausible."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = value.strip()
    m = _EPOCH.fullmatch(text)
    if not m:
        return None
    whole, frac = m.group(1), m.group(2)
    n = len(whole)
    for digits, scale in ((10, _NS), (13, 1_000_000), (16, 1_000), (19, 1)):
        if n == digits or (digits == 10 and n == 9):
            ns = int(whole) * scale + (int((frac or "").ljust(9, "0")[:9]) * scale // _NS)
            return ns if _MIN_S * _NS // 10 <= ns <= _MAX_S * _NS else None
    return None


def parse_timestamp(text: str, default_tz: str = "UTC", reference_ns: int = 0) -> int | None:
    """The first time stamp at the start of `text` (any supported shape) in ns, or None.

    `reference_ns` supplies the year for year-less syslog stamps (the latest year that does
    not put the stamp more than a day after the reference).
    """
    ns, _ = find_timestamp(text, default_tz, reference_ns, anchored=True)
    return ns


def find_timestamp(text: str, default_tz: str = "UTC", reference_ns: int = 0,
                   anchored: bool = False) -> tuple[int | None, int]:
    """(ns, end offset) of a time stamp in `text`: at its start when `anchored`, else in
    the first 64 characters. (None, 0) when there is none."""
    head = text if anchored else text[:64]
    if not anchored and not _CLOCK.search(head):
        return None, 0  # every supported text stamp has a hh:mm:ss; most lines end here
    for pattern, reader in _READERS:
        m = pattern.match(head) if anchored else pattern.search(head)
        if m:
            ns = reader(m, default_tz, reference_ns)
            if ns is not None:
                return ns, m.end()
    if anchored:
        ns = parse_epoch(text)
        if ns is not None:
            return ns, len(text)
    return None, 0


def _read_iso(m: re.Match, tz: str, ref: int) -> int | None:
    y, mo, d, h, mi, s = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    return _to_ns(y, mo, d, h, mi, s, m.group(7), _offset_s(m.group(8)), tz)


def _read_bsd(m: re.Match, tz: str, ref: int) -> int | None:
    mo = _MONTHS.get(m.group(1).lower())
    if mo is None:
        return None
    d, h, mi, s = (int(g) for g in m.group(2, 3, 4, 5))
    year = datetime.fromtimestamp(ref // _NS, timezone.utc).year if ref else datetime.now(timezone.utc).year
    ns = _to_ns(year, mo, d, h, mi, s, m.group(6), None, tz)
    if ns is not None and ref and ns > ref + 86_400 * _NS:
        ns = _to_ns(year - 1, mo, d, h, mi, s, m.group(6), None, tz)
    return ns


def _read_clf(m: re.Match, tz: str, ref: int) -> int | None:
    mo = _MONTHS.get(m.group(2).lower())
    if mo is None:
        return None
    d, y, h, mi, s = (int(g) for g in m.group(1, 3, 4, 5, 6))
    return _to_ns(y, mo, d, h, mi, s, None, _offset_s(m.group(7)), tz)


def _read_rfc1123(m: re.Match, tz: str, ref: int) -> int | None:
    mo = _MONTHS.get(m.group(2).lower())
    if mo is None:
        return None
    d, y, h, mi, s = (int(g) for g in (m.group(1), m.group(3), m.group(4), m.group(5), m.group(6)))
    return _to_ns(y, mo, d, h, mi, s, None, _offset_s(m.group(7)), tz)


_READERS = ((_ISO, _read_iso), (_CLF, _read_clf), (_RFC1123, _read_rfc1123), (_BSD, _read_bsd))
