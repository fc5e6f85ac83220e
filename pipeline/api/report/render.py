"""HTML for the report pages: one Jinja2 environment, autoescaped (log bodies and span names
are untrusted text), with the formatting every page shares: UTC ISO times, durations in ms.

The stylesheet and script are inlined into each page, so a page is one self-contained
response that works offline and can be saved or attached to an incident as it is.
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime, timezone
from importlib.resources import files
from urllib.parse import quote

import jinja2

_STATIC = files("pipeline.api.report") / "static"  # package data, like the templates
NS = 1_000_000_000


def utc(ns: int | None) -> str:
    """`2026-11-22T10:02:00.123Z` (millisecond precision, always UTC)."""
    if ns is None:
        return "-"
    secs, rem = divmod(int(ns), NS)
    stamp = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rem // 1_000_000:03d}Z"


def ms(value: float | None) -> str:
    """A duration in milliseconds, with as many decimals as its size needs."""
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) < 10:
        return f"{value:.3f} ms"
    if abs(value) < 1000:
        return f"{value:.1f} ms"
    return f"{value:,.0f} ms"


def num(value: float | None) -> str:
    """A metric reading, to four significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.4g}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def hue(name: str) -> int:
    """A stable colour hue per service name (the same service is the same colour everywhere)."""
    return zlib.crc32(name.encode()) % 360


def trace_link(ref: dict) -> str | None:
    """The trace page (at the span, when named) that an evidence reference points at."""
    tid = ref.get("trace_id")
    if not tid:
        return None
    link = f"/report/trace/{quote(str(tid), safe='')}"
    return link + f"#span-{quote(str(ref['span_id']), safe='')}" if ref.get("span_id") else link


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipeline.api.report", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(utc=utc, ms=ms, num=num, pct=pct, trace_link=trace_link, hue=hue)
    env.globals["css"] = (_STATIC / "report.css").read_text()
    env.globals["js"] = (_STATIC / "report.js").read_text()
    return env


_ENV = _env()


def inline_code() -> tuple[str, str]:
    """The inline script and stylesheet every page carries (their hashes make the CSP)."""
    return _ENV.globals["js"], _ENV.globals["css"]


def page(template: str, **context: object) -> str:
    """Render one page template."""
    return _ENV.get_template(template).render(**context)
