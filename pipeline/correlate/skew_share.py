"""Wire format of clock-skew pair sketches exchanged between workers.

Each worker only sees the parent/child pairs of its own traces; the offset tables are a
function of all pairs, so workers publish the sketches they grow and merge everyone's
(bottom-k sketches merge exactly and idempotently, skew.py). Read from the beginning, the same
messages also give a restarted worker the pairs of traces it will not replay.
"""

from __future__ import annotations

import orjson

from pipeline.shuffle.wirecheck import skew_samples

Samples = dict[int, dict[tuple[str, str], dict[int, int]]]  # epoch -> (parent host, child host) -> hash -> delta


def encode_samples(samples: Samples) -> bytes:
    """One message: [[epoch, parent host, child host, [[hash, delta], ...]], ...]."""
    return orjson.dumps([[b, p, c, list(sketch.items())]
                         for b, edges in samples.items() for (p, c), sketch in edges.items()])


def decode_samples(value: bytes) -> Samples:
    """The sketches of one message; ValueError (WireError) if it is not what a worker writes."""
    out: Samples = {}
    for b, p, c, pairs in skew_samples(orjson.loads(value)):
        out.setdefault(b, {})[(p, c)] = {h: d for h, d in pairs}
    return out
