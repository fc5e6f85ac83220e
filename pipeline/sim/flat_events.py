"""Flat JSON events (`telemetry.events`): one object per record with a `"signal"` field.

Field names follow pipeline/model.py and the event decoder (pipeline/ingest/decode/events.py):
ids as hex, times as integer nanoseconds, attributes and resource as string maps. A message
is several newline-separated events, as the decoder accepts.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from pipeline.sim.attrs import Attrs


def _flat(a: Attrs) -> dict[str, str]:
    f = a.flat
    if f is None:
        f = a.flat = {k: (("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in a.items}
    return f


def _span(r: tuple, res: dict[str, str], who: tuple[str, str, str]) -> dict:
    trace, sid, parent, shape, start, end, status, smsg, events = r
    d = {"signal": "span", "trace_id": trace, "span_id": sid, "parent_span_id": parent, "name": shape.name,
         "start": start, "end": end, "kind": shape.kind, "status": status, "status_message": smsg,
         "service": who[0], "instance": who[1], "host": who[2], "attributes": _flat(shape.attrs), "resource": res}
    if events:
        d["events"] = [{"time": t, "name": n, "attributes": _flat(a)} for t, n, a in events]
    return d


def _log(r: tuple, res: dict[str, str], who: tuple[str, str, str]) -> dict:
    t, obs, sev_n, sev_t, body, trace, sid = r[:7]
    d = {"signal": "log", "time": t, "observed_time": obs, "body": body, "trace_id": trace, "span_id": sid,
         "service": who[0], "instance": who[1], "host": who[2], "resource": res}
    if sev_n:
        d["severity_number"] = sev_n
        d["severity"] = sev_t
    return d


def _metric(r: tuple, res: dict[str, str], who: tuple[str, str, str]) -> dict:
    name, unit, kind, t, start, value, attrs, summary = r
    d = {"signal": "metric", "name": name, "type": kind, "time": t, "unit": unit,
         "service": who[0], "instance": who[1], "host": who[2], "attributes": _flat(attrs), "resource": res}
    if kind == "summary":
        count, total, qs = summary
        d.update(start_time=start, count=count, sum=total, quantiles=[[q, v] for q, v in qs])
    else:
        d["value"] = value
    return d


_ONE = {"traces": _span, "logs": _log, "metrics": _metric}


def encode(signal: str, groups: list[tuple[Attrs, list[tuple]]], batch: int) -> Iterator[tuple[bytes, int]]:
    """Newline-separated events, up to `batch` per message (no trailing newline)."""
    one = _ONE[signal]
    dumps = orjson.dumps
    lines: list[bytes] = []
    for resource, records in groups:
        res = _flat(resource)
        who = (res["service.name"], res["service.instance.id"], res["host.name"])
        for r in records:
            lines.append(dumps(one(r, res, who)))
            if len(lines) >= batch:
                yield b"\n".join(lines), len(lines)
                lines = []
    if lines:
        yield b"\n".join(lines), len(lines)
