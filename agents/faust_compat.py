"""Every use of a Faust, mode or aiokafka private attribute, in one place.

telecorr's delivery guarantees lean on three library internals that have no public API.
Each is used only through a function here, with the reason, and `check_versions` stops the
worker at start-up when an installed version is not one these were tested with (a silent
change in any of them brings back data loss or slow records). tests/test_faust_compat.py
holds one test per patch that fails when the library stops behaving as assumed.
"""

from __future__ import annotations

import os
from importlib import metadata

# The versions the patches below were written and tested against.
TESTED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}
ALLOW_UNTESTED_ENV = "TELECORR_ALLOW_UNTESTED_LIBS"


class UntestedLibraries(RuntimeError):
    """An installed library is not a version telecorr's Faust patches were tested with."""


def installed_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in TESTED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def check_versions(installed: dict[str, str | None] | None = None, env: dict[str, str] | None = None) -> str | None:
    """None when every library is a tested version. Otherwise UntestedLibraries naming the
    pins, or, with TELECORR_ALLOW_UNTESTED_LIBS=1, the same text returned as a warning."""
    installed = installed_versions() if installed is None else installed
    env = os.environ if env is None else env
    wrong = [f"{name} {installed.get(name) or 'missing'} (tested: {want})" for name, want in TESTED.items()
             if installed.get(name) != want]
    if not wrong:
        return None
    pins = " ".join(f"{name}=={want}" for name, want in TESTED.items())
    text = (f"untested library versions: {', '.join(wrong)}. telecorr's delivery relies on private internals of "
            f"these libraries (agents/faust_compat.py); install the tested pins ({pins}), or set "
            f"{ALLOW_UNTESTED_ENV}=1 to run anyway at your own risk")
    if env.get(ALLOW_UNTESTED_ENV) == "1":
        return text
    raise UntestedLibraries(text)


def committed_offset(consumer, tp) -> int | None:
    """The group's committed offset for `tp` as Faust's consumer recorded it when it seeked
    there after an assignment (None or 0 when nothing was committed). Faust keeps it only in
    the private `_committed_offset` mapping; the source reports need it to know where this
    worker's agent began on a partition (pipeline/worker/source_reports.py)."""
    return consumer._committed_offset.get(tp)


def set_fetch_wait(consumer, wait_ms: int) -> None:
    """Make the aiokafka consumer Faust built wait at most `wait_ms` for a fetch. Faust passes
    a fixed fetch_max_wait_ms=1500 and offers no setting; the local broker answers a waiting
    fetch only when the wait runs out (pipeline/kafka/io.py FETCH_MAX_WAIT_MS), so without this
    every record waits up to 1.5 s per hop. The fetcher reads `_fetch_max_wait_ms` for every
    fetch request it builds, so changing it on the running consumer takes effect."""
    consumer._thread._ensure_consumer()._fetcher._fetch_max_wait_ms = wait_ms


def fetch_wait(consumer) -> int:
    """The fetch wait the running aiokafka consumer uses (what set_fetch_wait changes)."""
    return consumer._thread._ensure_consumer()._fetcher._fetch_max_wait_ms


def seek_back_uncommitted_too(consumer) -> None:
    """Make Faust's "seek back to committed offsets" also rewind partitions with no commit.

    Faust throws away records it fetched while its flow was stopped (a rebalance starting or
    ending while a fetch was in flight) and then calls `perform_seek` to read them again; but
    that seeks only partitions whose committed offset is above 0, so on a partition the group
    has never committed the records were skipped for good. By-trace partitions hit this most:
    their messages stay unacknowledged while traces are pending, and in the kill tests a
    worker taking over a dead peer's partitions started them dozens of messages in (lost
    traces), or lost raw logs and metric points the same way. Rewinding those partitions to
    the beginning (the group's `earliest` reset) replays at worst, and replays collapse.
    Wraps the consumer's `perform_seek` method once (idempotent)."""
    if getattr(consumer, "_telecorr_seek_back", False):
        return
    faust_seek = consumer.perform_seek

    async def perform_seek() -> None:
        await faust_seek()  # it has just recorded each partition's commit above 0
        never = {tp: 0 for tp in consumer.assignment() if not committed_offset(consumer, tp)}
        if never:
            await consumer.seek_wait(never)

    consumer.perform_seek = perform_seek
    consumer._telecorr_seek_back = True


def after_assignment(consumer, wait_ms: int) -> str | None:
    """Apply the consumer patches (again: Faust may rebuild its consumer); returns a warning
    when the fetch wait could not be set (records then wait up to 1.5 s per hop)."""
    warning = None
    try:
        set_fetch_wait(consumer, wait_ms)
    except AttributeError as exc:
        warning = f"could not shorten the consumer's fetch wait ({exc}); records may wait up to 1.5 s per hop"
    seek_back_uncommitted_too(consumer)
    return warning
