"""Consistent trace sampling: every worker, and every replay, keeps the same traces.

The decision hashes the trace id (not a random draw), so the spans and logs of one trace are
kept or dropped together wherever they are processed; errors and slow spans override it, and
that override is taken at completion, when the whole trace is known.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 60)


def id_hash(value: str) -> int:
    """A stable 60-bit hash of an id, the same in every process (unlike `hash()`).

    Hashed rather than read off the id's digits: not every producer makes random ids.
    """
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big") >> 4


def keep_by_hash(trace_id: str, rate: float) -> bool:
    """True when the trace falls in the kept fraction `rate` (1.0 keeps all, 0.0 none)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return id_hash(trace_id) < rate * _SCALE
