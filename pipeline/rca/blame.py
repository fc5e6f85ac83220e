"""Which end of a slowed call edge is at fault.

A call that got slower between caller and callee (time on the wire, in queues, or a caller
too starved of CPU to read its replies) is seen by the caller, but either end may be the
cause: a delay on one pod's network slows every call into and out of that pod, a CPU-starved
caller slows all of its calls. So a slowed edge is charged to the caller only when the
caller's calls to at least two services slowed and a larger share of its measured edges than
of the callee's (a caller's incoming calls slowing does not count towards the two: a callee
failing further down slows those too);
otherwise to the callee (one link slowing, or a callee reached only over this edge, is the
usual culprit and is what the kind `network` names).
"""

from __future__ import annotations

from collections.abc import Iterable

Edge = tuple[str, str]  # (caller, callee)


def blame(slowed: Iterable[Edge], measured: Iterable[Edge]) -> dict[Edge, tuple[str, float]]:
    """slowed edge -> (the service charged, the share of that service's measured edges that slowed)."""
    slowed = set(slowed)
    touching: dict[str, set[Edge]] = {}
    for edge in set(measured) | slowed:
        for end in edge:
            touching.setdefault(end, set()).add(edge)
    out = {}
    for caller, callee in slowed:
        shares = {end: len(touching[end] & slowed) / len(touching[end]) for end in (caller, callee)}
        calls_slowed = sum(1 for e in slowed if e[0] == caller)
        who = caller if calls_slowed >= 2 and shares[caller] > shares[callee] else callee
        out[(caller, callee)] = (who, shares[who])
    return out
