"""Reading durations, offsets, drift rates and instants as people write them on a command line.

Everything inside the simulator is integer nanoseconds; this module is the one place that
turns `10m`, `+2.5s`, `10ms/min` or an RFC 3339 instant into them, and back for humans.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
      "m": 60_000_000_000, "min": 60_000_000_000, "h": 3_600_000_000_000}

_DURATION = re.compile(r"^\s*([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|min|m|h)?)+\s*$")
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|min|m|h)?")


def parse_duration_ns(text: str, default_unit: str = "s") -> int:
    """`10m`, `1m30s`, `+2.5s`, `-300ms`, `45` (default unit) -> signed nanoseconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (examples: 10m, 1m30s, 2.5s, 300ms)")
    body = text.strip().lstrip("+-")
    total = 0.0
    for num, unit in _PART.findall(body):
        total += float(num) * NS[unit or default_unit]
    return -round(total) if m.group(1) == "-" else round(total)


def parse_drift(text: str) -> float:
    """`10ms/min`, `-2ms/s` -> clock drift as nanoseconds gained per second of true time."""
    if "/" not in text:
        raise ValueError(f"not a drift rate: {text!r} (example: 10ms/min)")
    amount, per = text.split("/", 1)
    per_ns = parse_duration_ns(per if per[:1].isdigit() else "1" + per)
    return parse_duration_ns(amount) * 1e9 / per_ns


def parse_instant_ns(text: str) -> int:
    """RFC 3339 (`2025-03-01T12:00:00Z`, offsets and fractions allowed) -> Unix nanoseconds."""
    s = text.strip().replace("z", "Z")
    frac_ns = 0
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r} (example: 2025-03-01T12:00:00Z)")
    if m.group(2):
        frac_ns = int((m.group(2)[1:] + "000000000")[:9])
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    dt = datetime.fromisoformat(m.group(1) + tz)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


def rfc3339(ns: int) -> str:
    """Unix nanoseconds -> `2025-03-01T12:00:00.123456789Z` (UTC, full precision)."""
    sec, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def format_duration(ns: int) -> str:
    """Nanoseconds -> the shortest exact `1m30s`-style text, for messages and ground truth."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    parts = []
    for unit in ("h", "m", "s", "ms", "us", "ns"):
        q, ns = divmod(ns, NS[unit])
        if q:
            parts.append(f"{q}{unit}")
    return sign + "".join(parts)


def parse_kv(text: str, what: str) -> dict[str, str]:
    """`a=1,b=2` -> {'a': '1', 'b': '2'}; `what` names the thing in error messages."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{what} {text!r}: expected key=value pairs separated by commas")
        out[key.strip()] = value.strip()
    return out
