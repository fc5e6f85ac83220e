"""Which end of a slowed call edge is at fault.

A call that got slower between caller and callee (time on the wire, in queues, or a caller
too starved of CPU to read its replies) is seen by the caller, but either end may be the
cause: a delay on one pod's network slows every call into and out of that pod, a CPU-starved
caller slows all of its calls. So each slowed edge is charged to the endpoint whose measured
edges slowed most completely, and to the callee on a tie (a callee reached only over this
edge, or one link slowing among many healthy ones, is the usual culprit).
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
        who = caller if shares[caller] > shares[callee] else callee
        out[(caller, callee)] = (who, shares[who])
    return out
