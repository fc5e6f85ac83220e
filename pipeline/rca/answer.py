"""What a ranking answers with: candidates, each with a kind, a score and evidence rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

KINDS = ("error", "latency", "resource", "dependency", "network", "deploy")
SIGNALS = ("span", "log", "metric")


@dataclass(slots=True)
class Evidence:
    """One observation behind a rank; `ref` points at the rows (trace/span ids, log id, series)."""

    signal: str
    summary: str
    ref: dict = field(default_factory=dict)


@dataclass(slots=True)
class Candidate:
    service: str
    instance: str
    operation: str
    kind: str
    score: float
    evidence: list[Evidence] = field(default_factory=list)
    rank: int = 0

    def as_dict(self) -> dict:
        d = asdict(self)
        return {"rank": d.pop("rank"), **d}
