"""Root-cause ranking accuracy on simulated faults, beside baselines ranked in the same run.

For every fault type of the simulator, several seeds and both presets: simulate a normal
period then one fault, run every pipeline stage in-process into embedded ClickHouse (one
database per run, kept under benchmarks/.work/ and reused when its configuration matches), then
rank the fault's window with telecorr and with the baselines: most error spans, largest
latency increase, largest metric deviation, and RCAEval's published methods when that package
is installed. A run is right at top-k when the fault's service is among the first k answers.

    python benchmarks/rca_eval.py [--quick] [--json] [--seeds N] [--presets shop,large] [--profile otel,real]

Both simulator profiles run by default (pipeline/sim/profiles.py): `otel` (span kinds and
statuses, structured logs) and `real` (no span kind or status, errors only in log text,
container-wrapped local-time log lines, per-minute pod metrics with junk series).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import clickhouse_connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from pipeline.config import Settings  # noqa: E402
from benchmarks.harness.offline import OfflinePipeline  # noqa: E402
from pipeline.rca.evaluate import evaluate_truth, summarise  # noqa: E402
from pipeline.sim.faults import FAULT_TYPES, parse_fault  # noqa: E402
from pipeline.sim.profiles import PROFILES  # noqa: E402
from pipeline.sim.scenarios import fault_spec  # noqa: E402
from pipeline.sim.simulator import SimConfig, Simulation  # noqa: E402
from pipeline.sim.topology import load_topology  # noqa: E402
from pipeline.store.migrate import migrate  # noqa: E402

WORK = Path(__file__).resolve().parent / ".work" / "rca_eval"
# --weak: the same faults at a fraction of the simulator's default strength, to show where
# the ranking stops finding them (types that are on/off by nature keep their defaults).
WEAK_PARAMS = {"error": "rate=0.1", "latency": "delay=60ms", "cpu": "factor=1.8", "network-delay": "delay=50ms",
               "packet-loss": "rate=0.08", "bad-deploy": "rate=0.08"}
S = 10**9


def load_run(admin, preset: str, ftype: str, seed: int, rps: float, normal_s: int, fault_s: int,
             weak: bool = False, profile: str = "otel") -> tuple:
    """The database holding one simulated run (made now unless already stored), and its truth."""
    topo = load_topology(preset, None)
    spec = fault_spec(topo, ftype, seed, rps, normal_s, fault_s)
    if weak and ftype in WEAK_PARAMS:
        spec += "," + WEAK_PARAMS[ftype]
    cfg = SimConfig(preset=preset, duration_ns=(normal_s + fault_s + 10) * S, rps=rps, seed=seed,
                    faults=[parse_fault(spec)], profile=profile)
    # v3: logs carry templates (schemas/006), so stores made before them are rebuilt
    run = f"v3|{preset}|{spec}|{seed}|{rps}|{normal_s}|{fault_s}" + ("" if profile == "otel" else f"|{profile}")
    key = hashlib.sha1(run.encode()).hexdigest()[:12]
    db = f"rca_{key}"
    sim = Simulation(cfg)
    truth = sim.ground_truth()
    done = admin.query(f"SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'run_done'")
    client = clickhouse_connect.get_client(dsn=f"chdb://{WORK}", database=db) if done.result_rows[0][0] else None
    if client is None:
        admin.command(f"DROP DATABASE IF EXISTS {db} SYNC")
        admin.command(f"CREATE DATABASE {db}")
        client = clickhouse_connect.get_client(dsn=f"chdb://{WORK}", database=db)
        migrate(client, Settings())
        pipe = OfflinePipeline(client)
        pipe.feed_simulation(sim)
        pipe.close()
        client.command("CREATE TABLE run_done (spec String) ENGINE = Memory")
        client.insert("run_done", [[spec]], column_names=["spec"])
    return client, truth, spec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed of the shop preset, shorter runs")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per preset and fault type")
    ap.add_argument("--presets", default=None, help="comma-separated presets (shop,large)")
    ap.add_argument("--types", default=",".join(FAULT_TYPES), help="comma-separated fault types")
    ap.add_argument("--no-rcaeval", action="store_true", help="skip RCAEval's methods")
    ap.add_argument("--weak", action="store_true", help="faults at a fraction of their default strength")
    ap.add_argument("--profile", default=",".join(PROFILES), help="comma-separated simulator profiles (otel,real)")
    args = ap.parse_args()
    profiles = args.profile.split(",")
    if set(profiles) - set(PROFILES):
        ap.error(f"--profile takes {', '.join(PROFILES)}")
    presets = (args.presets or ("shop" if args.quick else "shop,large")).split(",")
    seeds = args.seeds or (1 if args.quick else 3)
    normal_s, fault_s = (90, 45) if args.quick else (150, 60)
    WORK.mkdir(parents=True, exist_ok=True)
    admin = clickhouse_connect.get_client(dsn=f"chdb://{WORK}")
    extra = {}
    if not args.no_rcaeval:
        try:
            import rcaeval_methods  # benchmarks/ is on the path when run as a script
            ok, why = rcaeval_methods.available()
        except ImportError as exc:
            ok, why = False, str(exc)
        if ok:
            for m in rcaeval_methods.METHODS:
                extra[f"rcaeval_{m}"] = (lambda m: lambda c, lo, hi, bf: rcaeval_methods.rank_services(
                    c, m, lo, hi, bf))(m)
        print(f"RCAEval: {'methods ' + ', '.join(extra) if ok else 'not used: ' + why}")
    results = []
    t_all = time.perf_counter()
    for profile in profiles:
        for preset in presets:
            for seed in range(1, seeds + 1):
                for ftype in args.types.split(","):
                    t0 = time.perf_counter()
                    client, truth, spec = load_run(admin, preset, ftype, seed, 20.0, normal_s, fault_s, args.weak,
                                                   profile)
                    t1 = time.perf_counter()
                    for r in evaluate_truth(client, truth, extra=extra):
                        r.update(preset=preset, seed=seed, spec=spec, profile=profile)
                        results.append(r)
                        bl = " ".join(f"{k}={v}" for k, v in r["baselines"].items())
                        print(f"{profile:4} {preset:5} seed={seed} {spec:70} rank={r['rank']} kind={r['kind']} "
                              f"top={','.join(r['top'])} | {bl} (load {t1 - t0:.0f}s, "
                              f"rank {time.perf_counter() - t1:.1f}s)", flush=True)
    print(f"\n{len(results)} faults in {time.perf_counter() - t_all:.0f} s")
    per_profile = {}
    for profile in profiles:
        summary = summarise([r for r in results if r["profile"] == profile])
        per_profile[profile] = _figures(summary)
        print(f"\nprofile {profile}:")
        _print_table(summary)
    summary = summarise(results)
    if args.json:
        print(orjson.dumps({**_figures(summary), "profiles": per_profile}).decode())
    return 0


def _print_table(summary: dict) -> None:
    names = ["telecorr"] + sorted(summary["baselines"])
    print(f"{'fault type':16} " + " ".join(f"{n[:18]:>18}" for n in names) + "   (top1/top3)")
    for t, figs in summary["by_type"].items():
        print(f"{t:16} " + " ".join(f"{figs[n]['top1']:>9.2f}/{figs[n]['top3']:<8.2f}" for n in names))
    allfig = {"telecorr": summary, **summary["baselines"]}
    print(f"{'all':16} " + " ".join(f"{allfig[n]['top1']:>9.2f}/{allfig[n]['top3']:<8.2f}" for n in names))
    best = max((summary["baselines"][b]["top1"] for b in summary["baselines"]), default=0.0)
    print("kind of the top answer right: " + ", ".join(f"{t} {f['telecorr']['kind_accuracy']:.2f}"
                                                     for t, f in summary["by_type"].items())
          + f"; all {summary['kind_accuracy']:.2f}")
    print(f"telecorr top-1 {summary['top1']:.3f} vs best baseline {best:.3f} "
          f"(ratio {summary['top1'] / best if best else float('inf'):.2f}), mrr {summary['mrr']:.3f}")


def _figures(summary: dict) -> dict:
    return {"faults": summary["faults"], "top1": summary["top1"], "top3": summary["top3"], "mrr": summary["mrr"],
            "kind_accuracy": summary["kind_accuracy"],
            "baselines": {b: {"top1": v["top1"], "top3": v["top3"]} for b, v in summary["baselines"].items()},
            "by_type": summary["by_type"]}


if __name__ == "__main__":
    raise SystemExit(main())
