"""Helpers for the simulator tests: run a simulation in-process and read its OTLP/JSON back.

The output is parsed from the bytes the simulator writes (not from its internal tuples), so
the tests check what a consumer would see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from pipeline.sim.simulator import SimConfig, Simulation

NS = 1_000_000_000


def _attr_value(v: dict) -> object:
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return v["doubleValue"]
    if "boolValue" in v:
        return v["boolValue"]
    raise AssertionError(f"unexpected attribute value {v}")


def attrs(items: list[dict] | None) -> dict:
    return {a["key"]: _attr_value(a["value"]) for a in items or []}


@dataclass
class Output:
    sim: Simulation
    spans: list[dict] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    log_truth: list[dict] = field(default_factory=list)
    raw: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def truth(self) -> dict:
        return self.sim.ground_truth()

    def true_ns(self, host: str, emitted: int) -> int:
        """Invert the host clock from ground truth (exact to a few ns)."""
        c = self.truth["clocks"][host]
        rate = c["drift_ns_per_s"] / 1e9
        t = c["epoch_ns"] + round((emitted - c["offset_ns"] - c["epoch_ns"]) / (1 + rate))
        # Step to the exact preimage of the truncating formula.
        for cand in (t, t - 1, t + 1, t - 2, t + 2):
            if cand + c["offset_ns"] + int((cand - c["epoch_ns"]) * rate) == emitted:
                return cand
        return t


def run(**kw) -> Output:
    """Run a simulation (SimConfig keywords) and parse every OTLP/JSON request it produced."""
    kw.setdefault("encoding", "otlp-json")
    sim = Simulation(SimConfig(**kw))
    out = Output(sim)
    for signal, payload in sim.messages():
        out.raw.setdefault(signal, []).append(payload)
        if signal == "log_truth":
            out.log_truth.extend(orjson.loads(line) for line in payload.split(b"\n"))
            continue
        doc = orjson.loads(payload)
        key = {"traces": ("resourceSpans", "scopeSpans", "spans"),
               "logs": ("resourceLogs", "scopeLogs", "logRecords"),
               "metrics": ("resourceMetrics", "scopeMetrics", "metrics")}[signal]
        for rblock in doc[key[0]]:
            res = attrs(rblock["resource"]["attributes"])
            who = {"service": res["service.name"], "instance": res["service.instance.id"],
                   "host": res["host.name"], "version": res["service.version"]}
            for sblock in rblock[key[1]]:
                for r in sblock[key[2]]:
                    if signal == "traces":
                        out.spans.append({**who, "trace": r["traceId"], "span": r["spanId"],
                                          "parent": r.get("parentSpanId", ""), "name": r["name"],
                                          "kind": r.get("kind", 0), "start": int(r["startTimeUnixNano"]),
                                          "end": int(r["endTimeUnixNano"]), "status": r.get("status", {}).get("code", 0),
                                          "message": r.get("status", {}).get("message", ""),
                                          "attrs": attrs(r.get("attributes")), "events": r.get("events", [])})
                    elif signal == "logs":
                        out.logs.append({**who, "time": int(r["timeUnixNano"]), "body": r["body"]["stringValue"],
                                         "trace": r.get("traceId", ""), "span": r.get("spanId", ""),
                                         "severity": r.get("severityNumber", 0)})
                    else:
                        kind = "summary" if "summary" in r else "gauge"
                        dp = r[kind]["dataPoints"][0]
                        out.metrics.append({**who, "name": r["name"], "time": int(dp["timeUnixNano"]),
                                            "value": dp.get("asDouble"), "attrs": attrs(dp.get("attributes")),
                                            "dp": dp})
    return out


def window(truth_fault: dict) -> tuple[int, int]:
    return truth_fault["start_ns"], truth_fault["end_ns"]
