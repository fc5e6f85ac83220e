"""Per-host clocks that are wrong the way real fleet clocks are: a fixed offset plus drift.

Every timestamp a host emits (span start/end, log time, metric time, times inside log text)
goes through its clock, so the pipeline's skew estimator has something real to estimate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pipeline.sim.units import format_duration, parse_drift, parse_duration_ns, parse_kv

# Random default skew: most hosts within ±3 s, drift within ±20 ms per minute.
MAX_RANDOM_OFFSET_NS = 3_000_000_000
MAX_RANDOM_DRIFT_NS_PER_S = 20_000_000 / 60


@dataclass(slots=True, frozen=True)
class SkewSpec:
    host: str
    offset_ns: int = 0
    drift_ns_per_s: float = 0.0


@dataclass(slots=True)
class HostClock:
    """emitted = true + offset + drift x (true - epoch), drift in ns per second of true time."""

    host: str
    offset_ns: int
    drift_ns_per_s: float
    epoch_ns: int
    _rate: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rate = self.drift_ns_per_s / 1e9

    def emit(self, true_ns: int) -> int:
        return true_ns + self.offset_ns + int((true_ns - self.epoch_ns) * self._rate)

    def params(self) -> tuple[int, int, float]:
        """(offset_ns, epoch_ns, drift per ns) for callers that inline `emit` in hot loops."""
        return self.offset_ns, self.epoch_ns, self._rate

    def as_truth(self) -> dict:
        return {"host": self.host, "offset_ns": self.offset_ns, "offset": format_duration(self.offset_ns),
                "drift_ns_per_s": self.drift_ns_per_s,
                "drift": f"{self.drift_ns_per_s * 60 / 1e6:g}ms/min",
                "epoch_ns": self.epoch_ns,
                "formula": "emitted_ns = true_ns + offset_ns + trunc((true_ns - epoch_ns) * drift_ns_per_s / 1e9)"}


def parse_skew(text: str) -> SkewSpec:
    """`host=node-3,offset=+2.5s,drift=10ms/min` (offset and drift optional)."""
    fields = parse_kv(text, "skew")
    if "host" not in fields:
        raise ValueError(f"skew {text!r}: needs host=NAME")
    unknown = set(fields) - {"host", "offset", "drift"}
    if unknown:
        raise ValueError(f"skew {text!r}: unknown keys {sorted(unknown)}")
    return SkewSpec(fields["host"], parse_duration_ns(fields.get("offset", "0s")),
                    parse_drift(fields["drift"]) if "drift" in fields else 0.0)


def host_clocks(hosts: list[str], skews: list[SkewSpec], epoch_ns: int, rng: random.Random | None) -> dict[str, HostClock]:
    """One clock per host: explicit skews win; others get a random skew when rng is given."""
    explicit = {s.host: s for s in skews}
    unknown = set(explicit) - set(hosts)
    if unknown:
        raise ValueError(f"skew for unknown host(s) {sorted(unknown)}; hosts are {', '.join(hosts)}")
    clocks = {}
    for host in hosts:
        # Draw for every host so adding one explicit skew does not reshuffle the others.
        off = drift = 0
        if rng is not None:
            off = round(rng.uniform(-1, 1) * MAX_RANDOM_OFFSET_NS / 1e6) * 1_000_000
            drift = round(rng.uniform(-1, 1) * MAX_RANDOM_DRIFT_NS_PER_S, 3)
        if host in explicit:
            off, drift = explicit[host].offset_ns, explicit[host].drift_ns_per_s
        clocks[host] = HostClock(host, off, drift, epoch_ns)
    return clocks
