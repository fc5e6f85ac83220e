"""Which consumed messages may be acknowledged, and when (docs/architecture.md "Delivery").

Faust commits to the end of a partition's first run of consecutive acknowledged offsets,
but when the group has committed nothing there yet it commits past a gap at the head of its
acked offsets (and after a commit, past a gap of one message). So an acknowledgement may never overtake an older message that is still owed
work: a crash would then skip it. The ledger keeps messages in consumption order, in lanes
(one lane for the ingest agents' batches, one lane per partition for the by-trace messages,
whose traces complete independently), and releases a lane's messages only from its head, up
to the first entry still owed something:

- an ingest batch owes its write and forward (`take` ... `complete`); a failed batch
  (`fail`) is never released, nor is anything behind it, so a restarted worker reads it
  again;
- a by-trace message owes the traces it carried until the engine says none is pending.

A revoked partition's messages are dropped unacknowledged (their new owner reads them
again); an ingest batch still in flight keeps its place in its lane for the messages of the
partitions still owned.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

M = TypeVar("M")

# What an ingest batch owes until it is complete: its write and forward.
IN_FLIGHT = object()


class _Entry(Generic[M]):
    __slots__ = ("messages", "owes", "failed")

    def __init__(self, messages: list[M], owes: set) -> None:
        self.messages = messages
        self.owes = owes
        self.failed = False


class AckLedger(Generic[M]):
    """Messages taken and not yet acknowledged, released strictly in order per lane."""

    def __init__(self, partition_of: Callable[[M], int], lane_of: Callable[[M], Hashable] | None = None) -> None:
        """`partition_of(message)` names its partition (for revocation); `lane_of(message)`
        the lane it is ordered in (default: one lane, consumption order over everything)."""
        self._partition_of = partition_of
        self._lane_of = lane_of or (lambda _m: None)
        self._lanes: dict[Hashable, deque[_Entry[M]]] = {}

    def take(self, messages: list[M], owes: Iterable = (IN_FLIGHT,)) -> _Entry[M]:
        """Record messages just consumed (all of one lane), owing `owes`: by default the
        batch's own completion, else trace ids. Returns the entry to complete or fail."""
        entry = _Entry(list(messages), set(owes))
        if entry.messages:
            self._lanes.setdefault(self._lane_of(entry.messages[0]), deque()).append(entry)
        return entry

    def complete(self, entry: _Entry[M]) -> None:
        """The batch's work is done: it no longer holds back its lane."""
        entry.owes.discard(IN_FLIGHT)

    def fail(self, entry: _Entry[M]) -> None:
        """The batch's work cannot be done: it and everything behind it stay unacknowledged."""
        entry.failed = True

    def release(self, pending: Callable[[object], bool] | None = None) -> list[M]:
        """Pop and return, in order, every message that may be acknowledged now: per lane, the
        entries from the head up to the first one still owed something. `pending(trace)` says
        whether a trace still owes rows (only head entries are asked, the held list can be
        long in a backlog)."""
        out: list[M] = []
        for lane in list(self._lanes):
            queue = self._lanes[lane]
            while queue:
                head = queue[0]
                if head.failed:
                    break
                if pending is not None and head.owes:
                    head.owes = {o for o in head.owes if o is IN_FLIGHT or pending(o)}
                if head.owes:
                    break
                out += queue.popleft().messages
            if not queue:
                del self._lanes[lane]
        return out

    def revoke(self, partitions: Iterable[int]) -> int:
        """Forget the messages of partitions no longer assigned (never acknowledged: their new
        owner reads them again); returns how many were dropped."""
        lost = set(partitions)
        dropped = 0
        for lane in list(self._lanes):
            kept: deque[_Entry[M]] = deque()
            for entry in self._lanes[lane]:
                mine = [m for m in entry.messages if self._partition_of(m) not in lost]
                dropped += len(entry.messages) - len(mine)
                entry.messages = mine
                if mine or IN_FLIGHT in entry.owes:  # a batch in flight keeps its place
                    kept.append(entry)
            if kept:
                self._lanes[lane] = kept
            else:
                del self._lanes[lane]
        return dropped

    def partitions(self) -> set[int]:
        """Partitions with messages not yet released."""
        return {self._partition_of(m) for queue in self._lanes.values() for e in queue for m in e.messages}

    def held(self) -> int:
        """Messages taken and not yet released (the progress event's `held_messages`)."""
        return sum(len(e.messages) for queue in self._lanes.values() for e in queue)

    def in_flight(self) -> int:
        """Batches taken whose work is neither complete nor failed."""
        return sum(1 for queue in self._lanes.values() for e in queue if IN_FLIGHT in e.owes and not e.failed)
