"""Size limits that keep one message, one record and one consumed batch bounded.

Without them one input could take the worker down for good: a span of 240 attributes of
32 KB (7.7 MB) became a 46 MB by-trace message the producer refused, and since the batch was
never acknowledged every restart met it again; 400 KB of `a\\n` became 200,000 records (70 MiB).

* Values: an attribute value or a log body over its cap is cut (values.truncate marks the
  text); attribute `telecorr.truncated` names every field cut, here or by the decoder.
* Records: one over `record_bytes` (its name/body, attributes, resource attributes and event
  attributes, counted as characters, about what it weighs as JSON) has its largest values cut
  until it fits, none below 256 bytes; so does one whose JSON would not fit one re-keyed
  message (1 MiB, what a stock broker takes: control characters take 6 bytes each), so it
  can always be forwarded to the join. One that still does not fit is a record error (DLQ).
* Messages: records past `records_per_message` are not decoded; the message goes to the DLQ
  (once) saying so, and the records before the cut are kept.
* Batches: `split_batch` cuts a consumed batch into runs of at most `batch_bytes` input bytes
  and about `batch_records` records, each processed and acknowledged in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain, repeat

import orjson

from pipeline.column_batch import ColumnBatch
from pipeline.ingest.decode.result import DecodeResult, RecordError
from pipeline.ingest.decode.values import ATTR_LIMIT, BODY_LIMIT, truncate
from pipeline.model import MetricPoint
from pipeline.shuffle.route import MAX_MESSAGE_BYTES

TRUNCATED_ATTR = "telecorr.truncated"
MIN_CUT = 256  # bytes a value keeps however hard its record is squeezed
_SLACK = 64  # a value the decoder already cut carries its marker past the limit
_MARK_CHARS = 32  # what truncate's "…[truncated N bytes]" adds
_MARKER_ROOM = 1100  # the telecorr.truncated attribute itself, at most 1024 characters
_MAX_ESCAPE = 6  # bytes of JSON one character can take (a control character: \u0001)
# Largest JSON of one record: one re-keyed message (route.py) with room for its envelope.
WIRE_BYTES = MAX_MESSAGE_BYTES - 16 * 1024
_MARKED = re.compile(r"…\[truncated \d+ bytes\]$")


@dataclass(slots=True)
class Limits:
    attr_bytes: int = ATTR_LIMIT
    body_bytes: int = BODY_LIMIT
    record_bytes: int = 512 * 1024
    records_per_message: int = 10_000
    batch_bytes: int = 16 * 1024 * 1024
    batch_records: int = 200_000


def _cut(text: str, limit: int) -> str | None:
    """`text` cut to `limit` bytes, or None if it fits (or the decoder already cut it)."""
    if len(text) * 4 <= limit + _SLACK:
        return None
    if _MARKED.search(text, len(text) - 40):
        return text if len(text.encode("utf-8", "surrogatepass")) <= limit + _SLACK else truncate(text, limit)
    new = truncate(text, limit)
    return None if new is text else new


def _dict_size(d: dict) -> int:
    return sum(map(len, d)) + sum(map(len, d.values())) + 6 * len(d)


def record_size(r: object, resource_size: int | None = None) -> int:
    """About how many characters the record weighs as JSON (`resource_size`: its resource's
    share, when the caller knows it)."""
    size = (len(getattr(r, "name", "")) + len(getattr(r, "body", "")) + _dict_size(r.attributes)
            + (_dict_size(r.resource) if resource_size is None else resource_size))
    for ev in getattr(r, "events", ()):
        size += len(ev["name"]) + _dict_size(ev["attributes"]) + 40
    if type(r) is MetricPoint:  # numbers in lists: about 24 characters each as JSON
        size += 24 * (len(r.bucket_bounds) + len(r.bucket_counts) + len(r.exp_positive_counts)
                      + len(r.exp_negative_counts) + 2 * len(r.quantiles)) + 150 * len(r.exemplars)
    return size


def _values(r: object) -> list[tuple[int, str, object]]:
    """(length, field name, where) of every value a squeeze may cut, largest first."""
    out = [(len(v), k, ("attributes", k)) for k, v in r.attributes.items()]
    out += [(len(v), f"resource.{k}", ("resource", k)) for k, v in r.resource.items()]
    for n, ev in enumerate(getattr(r, "events", ())):
        out += [(len(v), f"events[{n}].{k}", ("event", n, k)) for k, v in ev["attributes"].items()]
    if getattr(r, "body", ""):
        out.append((len(r.body), "body", ("body",)))
    return sorted((x for x in out if x[0] > MIN_CUT), key=lambda x: -x[0])


def _squeeze(r: object, excess: int, cut: list[str], limit: int) -> None:
    copied = False
    for length, name, where in _values(r):
        if excess <= 0:
            return
        keep = max(MIN_CUT, length - excess - _MARK_CHARS)
        if where[0] == "body":
            r.body = truncate(r.body, keep)
        elif where[0] == "attributes":
            r.attributes[where[1]] = truncate(r.attributes[where[1]], keep)
        elif where[0] == "resource":
            if not copied:  # the resource dict is shared by the message's records
                r.resource, copied = dict(r.resource), True
            r.resource[where[1]] = truncate(r.resource[where[1]], keep)
        else:
            ev = r.events[where[1]] = dict(r.events[where[1]])
            ev["attributes"] = dict(ev["attributes"])
            ev["attributes"][where[2]] = truncate(ev["attributes"][where[2]], keep)
        excess -= length - keep - _MARK_CHARS
        cut.append(name)
    if excess > 0:
        raise RecordError("", f"about {limit + excess} bytes even with every value cut to {MIN_CUT}: "
                              f"over the record limit of {limit} bytes (max_record_bytes)")


def fit(r: object, limits: Limits, size: int | None = None) -> None:
    """Apply the value and record caps to one span, log or metric point, in place (`size`:
    its record_size, when the caller knows it)."""
    size = record_size(r) if size is None else size
    if size * 4 <= min(limits.attr_bytes, limits.body_bytes) and size <= limits.record_bytes:
        return  # no value can be over its cap: the usual case, one pass over the record
    cut: list[str] = []
    body = getattr(r, "body", None)
    if body:
        new = _cut(body, limits.body_bytes)
        if new is not None:
            r.body = new
            cut.append("body")
    attrs = r.attributes
    for k, v in attrs.items():
        new = _cut(v, limits.attr_bytes)
        if new is not None:
            attrs[k] = new
            cut.append(k)
    size = record_size(r)  # again: values may have been cut above
    if size > limits.record_bytes:
        _squeeze(r, size - limits.record_bytes + _MARKER_ROOM, cut, limits.record_bytes)
    if size * _MAX_ESCAPE > WIRE_BYTES:  # only a large record can escape past what one message takes
        _fit_wire(r, cut, limits.record_bytes)
    if cut:
        attrs[TRUNCATED_ATTR] = truncate(",".join(dict.fromkeys(cut)), 1024)


def _fit_wire(r: object, cut: list[str], limit: int) -> None:
    """Squeeze until the record's JSON (what the join's topic carries) fits one message:
    control characters take 6 bytes each there, so 500 K characters can be 3 MB."""
    for _ in range(4):
        try:
            wire = len(orjson.dumps(r))
        except TypeError:  # a lone surrogate: the store refuses it and dead-letters the row
            return
        if wire <= WIRE_BYTES:
            return
        size = record_size(r)
        _squeeze(r, (wire - WIRE_BYTES) * size // wire + _MARKER_ROOM, cut, limit)
    raise RecordError("", f"its JSON stays over {WIRE_BYTES} bytes, more than one re-keyed message takes")


def enforce(out: DecodeResult, first: tuple[int, int, int], limits: Limits, errors: list[str]) -> None:
    """Apply the limits to the records one message added to `out` (from the `first`
    spans/logs/metrics indexes on); records that cannot be kept add to `errors`."""
    budget = limits.records_per_message
    for name, start in zip(("spans", "logs", "metrics"), first):
        recs = getattr(out, name)
        if len(recs) - start > budget:
            errors.append(f"more than {limits.records_per_message} records in one message "
                          f"(max_records_per_message): {name} past that were not read")
            del recs[start + budget:]
        budget -= len(recs) - start
        bad = []
        for i in _oversized(recs, start, name, limits):
            r = recs[i]  # the batch hands out a copy: written back below
            try:
                fit(r, limits)
            except RecordError as exc:
                errors.append(exc.at(f"{name}[{i - start}]"))
                bad.append(i)
                continue
            recs[i] = r
        for i in reversed(bad):
            del recs[i]


def _oversized(recs: ColumnBatch, start: int, name: str, limits: Limits) -> list[int]:
    """Indexes from `start` on of the records that may be over a cap (the rest cannot be:
    the usual case, judged from a cheap size sum read off the columns, no record built)."""
    quick = min(limits.attr_bytes // 4, limits.body_bytes // 4, limits.record_bytes)
    cols = recs.cols
    n = len(recs)
    text = cols["body" if name == "logs" else "name"][start:]
    lists = _list_sizes(cols, start) if name == "metrics" else None
    if n - start <= 0 or _all_small(cols, start, text, lists, quick):
        return []
    shared: dict[int, int] = {}  # records of one resource share its attribute dict
    out = []
    rows = zip(range(start, n), cols["resource"][start:], cols["attributes"][start:], text,
               cols["events"][start:] if "events" in cols else repeat(()), lists or repeat(0))
    for i, res, a, t, events, extra in rows:
        size = shared.get(id(res))
        if size is None:
            size = shared[id(res)] = _dict_size(res)
        size += len(t) + sum(map(len, a)) + sum(map(len, a.values())) + 6 * len(a) + extra
        if size > quick or events:
            out.append(i)
    return out


def _all_small(cols: dict[str, list], start: int, text: list[str], lists: list[int] | None, quick: int) -> bool:
    """Whether no record from `start` on can be over `quick`: the longest text, the most
    attributes times the longest key and value, the largest lists and the largest resource
    together stay within it (C loops over the columns rather than a pass per record)."""
    if "events" in cols and any(cols["events"][start:]):
        return False
    attrs = cols["attributes"][start:]
    keys = list(chain.from_iterable(attrs))
    bound = max(map(len, text)) + (max(lists) if lists else 0)
    if keys:
        values = chain.from_iterable(map(dict.values, attrs))
        bound += max(map(len, attrs)) * (max(map(len, keys)) + max(map(len, values)) + 6)
    if bound > quick:
        return False
    resources = {id(r): r for r in cols["resource"][start:]}
    return bound + max(map(_dict_size, resources.values())) <= quick


_LIST_FIELDS = ("bucket_bounds", "bucket_counts", "exp_positive_counts", "exp_negative_counts", "quantiles",
                "exemplars")


def _list_sizes(cols: dict[str, list], start: int) -> list[int] | None:
    """What each metric point's bucket, quantile and exemplar lists add to its record_size;
    None when every one is empty (gauges and sums)."""
    lists = [cols[f][start:] for f in _LIST_FIELDS]
    if not any(map(any, lists)):
        return None
    return [24 * (len(b) + len(c) + len(p) + len(q) + 2 * len(qs)) + 150 * len(e) for b, c, p, q, qs, e in zip(*lists)]


def split_batch(values: list[bytes], limits: Limits) -> list[tuple[int, int]]:
    """[lo, hi) runs of a consumed batch within the batch byte and record caps (each run holds
    at least one message). A message's records are guessed from its lines, which is what
    multiplies on the line-oriented topics."""
    runs, lo, size, records = [], 0, 0, 0
    for i, v in enumerate(values):
        n = len(v) if v else 0
        guess = min(limits.records_per_message, v.count(b"\n") + 1) if v else 1
        if i > lo and (size + n > limits.batch_bytes or records + guess > limits.batch_records):
            runs.append((lo, i))
            lo, size, records = i, 0, 0
        size += n
        records += guess
    if values:
        runs.append((lo, len(values)))
    return runs
