"""The source-progress and watermark protocol (docs/architecture.md "Watermark"): how far each
input source (one partition of an input topic) has got, and how that holds back the join.

Spans and logs reach the by-trace topic through separate agents, each at its own pace; in a
replayed backlog one signal can run minutes of event time ahead of the other, and at start-up
one agent may forward a whole backlog before another has read anything. So the worker
reports, for every input partition it owns, the newest event time that source has forwarded
to the by-trace topic and whether it still has input left, and the correlation engine holds
its watermark back to the slowest source that is behind, and until every expected source has
reported (`WatermarkCaps`, CorrelateConfig.sources).

Only what has been *forwarded* counts as progress (records decoded but not yet delivered to
the by-trace topic are not), so a report never runs ahead of the data it describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipeline.column_batch import ColumnBatch
from pipeline.ingest.stage import INPUT_KINDS
from pipeline.model import LogRecord, MetricPoint, Span

# One source's report, the only spelling of it: (newest event time forwarded or None, behind?).
# On the wire a JSON list [time or null, true/false] (pipeline/shuffle/wirecheck.py `progress_of`).
Report = tuple[int | None, bool]
# Reports by source name, as one message carries them.
Reports = Mapping[str, Report]

NEVER = -(1 << 62)  # "nothing yet": below any event time
ALWAYS = 1 << 62  # "no limit": above any event time


def source_name(topic: str, partition: int) -> str:
    """A source is a logical input topic's partition: the same name on every worker."""
    return f"{topic}/{partition}"


def expected_sources(partitions: Mapping[str, int]) -> tuple[str, ...]:
    """Every partition of every input topic the join reads (logical name -> partition count)."""
    # Every input topic feeds the join: spans and logs through the by-trace topic, metric
    # points through the metrics topic (a span completed before its host's points arrive
    # would miss them).
    return tuple(source_name(t, p) for t in INPUT_KINDS for p in range(partitions.get(t, 0)))


def time_bounds(spans: ColumnBatch | Iterable[Span], logs: ColumnBatch | Iterable[LogRecord],
                metrics: ColumnBatch | Iterable[MetricPoint] = (),
                ahead_ns: int | None = None) -> tuple[int | None, int | None]:
    """Oldest and newest event time among records the join uses (spans by end time, logs with
    a trace id by their time, metric points by theirs). With `ahead_ns`, a span or log counts
    no further than its Kafka timestamp plus that (the engine's watermark guard)."""
    if type(metrics) is ColumnBatch:  # columns: no record built
        points = metrics.cols["time_ns"]
        times = [min(points), max(points)] if points else []
    else:
        times = [m.time_ns for m in metrics]
    if type(spans) is ColumnBatch:  # columns: no record built
        ends, stamps = spans.cols["end_ns"], spans.cols["kafka_ns"]
    else:
        spans = list(spans)
        ends, stamps = [s.end_ns for s in spans], [s.kafka_ns for s in spans]
    if ahead_ns is not None:
        ends = [k + ahead_ns if k and t > k + ahead_ns else t for t, k in zip(ends, stamps)]
    if ends:
        times += (min(ends), max(ends))
    if type(logs) is ColumnBatch:  # columns: no record built
        c = logs.cols
        rows = zip(c["trace_id"], c["time_ns"], c["observed_ns"], c["kafka_ns"])
    else:
        rows = ((r.trace_id, r.time_ns, r.observed_ns, r.kafka_ns) for r in logs)
    for trace_id, time_ns, observed_ns, kafka_ns in rows:
        if trace_id:
            t = time_ns or observed_ns
            if ahead_ns is not None and kafka_ns and t > kafka_ns + ahead_ns:
                t = kafka_ns + ahead_ns
            times.append(t)
    return (min(times), max(times)) if times else (None, None)


class SourceProgress:
    """One input topic's partitions: offsets taken, offsets and event time forwarded."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._taken: dict[int, int] = {}
        self._done: dict[int, int] = {}
        self._newest: dict[int, int] = {}
        self._decoded: dict[int, int] = {}  # last offset of the newest decoded batch
        # Batches decoded but not yet forwarded: their last offset -> oldest event time in them
        # (ALWAYS when they hold nothing the join uses).
        self._oldest: dict[int, dict[int, int]] = {}

    def taken(self, partition: int, last_offset: int) -> None:
        """A batch holding messages up to `last_offset` is being decoded and forwarded."""
        if last_offset > self._taken.get(partition, -1):
            self._taken[partition] = last_offset

    def decoded(self, partition: int, last_offset: int, oldest: int | None) -> None:
        """A batch taken up to `last_offset` is decoded; `oldest`: its oldest event time the
        join uses (None: no such record)."""
        if last_offset > self._decoded.get(partition, -1):
            self._decoded[partition] = last_offset
        self._oldest.setdefault(partition, {})[last_offset] = ALWAYS if oldest is None else oldest

    def forwarded(self, partition: int, last_offset: int, newest: int | None) -> None:
        """A batch's by-trace messages are delivered (up to `last_offset`, event time `newest`)."""
        self._oldest.get(partition, {}).pop(last_offset, None)
        if last_offset > self._done.get(partition, -1):
            self._done[partition] = last_offset
        if newest is not None and newest > self._newest.get(partition, -(1 << 62)):
            self._newest[partition] = newest

    def report(self, partition: int, end: int | None, position: int | None,
               start: int | None = None) -> Report:
        """This partition's report, given the broker's end offset as last fetched (None if
        not known yet), the consumer's fetch position and `start`, the first offset this
        worker's agent was to take (the group's commit, else the partition's earliest).
        Behind while messages exist that no batch has taken yet (a backlog, including
        messages fetched but not yet taken before the first batch: at start-up the whole
        backlog can be fetched at once), while the end is unknown, or while a batch is still
        on its way: its records may be older than anything forwarded since, and metric points
        never amend a row, so a span completed before its host's points arrive keeps a row
        without them for good. Live input nearly always has a batch in flight; that costs
        little, because the join lets a behind source run one inactivity gap past its newest
        forwarded record (WatermarkCaps.update), which a dense source always has.

        A sparse source (a partition that gets a message every few seconds) has no recent
        forwarded record, so while only batches already decoded are in flight, the report
        vouches up to just before their oldest record instead: everything older from this
        source is forwarded. Otherwise each message to such a partition would hold the join
        back to its previous message's time until the batch is stored and forwarded."""
        taken, done = self._taken.get(partition), self._done.get(partition)
        next_offset = taken + 1 if taken is not None else position
        in_flight = taken is not None and (done is None or taken > done)
        fetched_untaken = taken is None and None not in (start, position) and position > start
        unread = end is None or next_offset is None or fetched_untaken or end > next_offset
        newest = self._newest.get(partition)
        if in_flight and not unread and self._decoded.get(partition, -1) >= taken:
            oldest = min(self._oldest.get(partition, {}).values(), default=ALWAYS)
            if oldest < ALWAYS and (newest is None or oldest - 1 > newest):
                newest = oldest - 1
        return newest, in_flight or unread


class SpreadProgress:
    """Reports sent to every partition of a topic read whole by one reader (the metrics
    topic): a report read on one partition only vouches for the data sent to that partition
    before it, so a source counts as far as the least advanced partition says."""

    def __init__(self, partitions: int) -> None:
        self._partitions = partitions
        self._seen: dict[int, dict[str, Report]] = {}

    def note(self, partition: int, report: Reports) -> dict[str, Report]:
        """Take one partition's report; return the sources every partition has reported."""
        self._seen.setdefault(partition, {}).update(report)
        if len(self._seen) < self._partitions:
            return {}
        out: dict[str, Report] = {}
        for src in report:
            got = [seen.get(src) for seen in self._seen.values()]
            if any(g is None for g in got):
                continue
            times = [t for t, _ in got]
            out[src] = (None if None in times else min(times), any(b for _, b in got))
        return out


class WatermarkCaps:
    """Per by-trace partition: the latest report of each source, and the cap they put on that
    partition's watermark (the engine takes min(partition's newest record time, cap))."""

    def __init__(self, sources: Iterable[str], inactivity_ns: int) -> None:
        self._expected = tuple(sources)
        self._gap = inactivity_ns
        self._known: dict[int, dict[str, Report]] = {}
        self._caps: dict[int, int] = {}

    def note(self, partition: int, reports: Reports) -> None:
        """Reports that came with a batch on `partition` (they describe the sources after that
        batch). Progress never goes back: a restarted source replays what it had sent."""
        known = self._known.setdefault(partition, {})
        for source, (newest, behind) in reports.items():
            old = known.get(source)
            if old is not None and old[0] is not None and (newest is None or newest < old[0]):
                newest = old[0]
            known[source] = (newest, bool(behind))
        self.update(partition)

    def unheard(self, partition: int) -> None:
        """A batch without reports: until some source has reported here, expected sources
        hold the partition."""
        if self._expected and partition not in self._known:
            self.update(partition)

    def update(self, partition: int) -> None:
        """The partition's cap: one inactivity gap past the slowest behind source's progress,
        so a trace completes only once every source has forwarded up to its newest record (a
        dense source with a batch in flight costs no freshness: it has forwarded records
        about as new as any the partition holds). Nothing may move before every expected
        source has reported (a source behind that has not yet forwarded any record, or one
        not heard from, holds everything)."""
        known = self._known.get(partition, {})
        cap = ALWAYS
        if any(src not in known for src in self._expected):
            cap = NEVER
        for newest, behind in known.values():
            if behind:
                cap = min(cap, NEVER if newest is None else newest + self._gap)
        if cap < ALWAYS:
            self._caps[partition] = cap
        else:
            self._caps.pop(partition, None)

    def watermark(self, newest: Mapping[int, int]) -> int | None:
        """The slowest partition's newest record time (`newest`: by partition), each held back
        to its cap (None before data, or while a source holds everything)."""
        if not newest:
            return None
        caps = self._caps
        if not caps:
            return min(newest.values())
        wm = min(min(t, caps.get(p, t)) for p, t in newest.items())
        return None if wm <= NEVER else wm

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions this worker lost (their new owner hears the reports again)."""
        for p in partitions:
            self._known.pop(p, None)
            self._caps.pop(p, None)
