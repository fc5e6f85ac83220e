"""What the window ranking reads off the rows of its one scan of correlated_spans
(pipeline.store.queries.window.COMPONENTS): users' waiting time, how calls failed, and where
stored data begins. Deriving them here saves three more scans of window and baseline."""

from __future__ import annotations

_MAX_FAILURE_ROWS = 200


def root_ns(components: list[dict]) -> int:
    """Time all requests (root spans) in the window took, from COMPONENTS rows."""
    return sum(r["root_ns_w"] for r in components)


def call_failures(components: list[dict]) -> list[dict]:
    """Failed calls in the window per (caller, callee, status message), most frequent first,
    from COMPONENTS rows: what pipeline.rca.score reads to name how a dependency failed."""
    counts: dict[tuple[str, str, str], int] = {}
    for r in components:
        for message, n in zip(*r["failed_messages"]):
            key = (r["service"], r["peer"], message)
            counts[key] = counts.get(key, 0) + n
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:_MAX_FAILURE_ROWS]
    return [{"service": svc, "peer": peer, "message": msg, "n": n} for (svc, peer, msg), n in ranked]


def first_stored_ns(components: list[dict]) -> int | None:
    """The earliest span start stored in the baseline period, None when it holds none."""
    return min((r["first_b_ns"] for r in components if r["n_b"]), default=None)
