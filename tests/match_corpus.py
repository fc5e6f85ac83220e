"""A multi-format log corpus and rule packs for `telecorr match` (tests and benchmarks/match.py).

Lines come from three places: the simulator's log text in both profiles, the nezha-ob log
bodies (container-wrapped JSON from a real incident dataset), and hand-made lines in the
formats and corner cases the parser knows (syslog, logfmt, JSON, klog, CRI, levels, trace
ids, time stamps out of range, non-ASCII, invalid UTF-8, CR LF, empty lines).
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson

from benchmarks.rules import build
from pipeline.query import Rule, default_rules
from pipeline.sim.simulator import SimConfig, Simulation

NEZHA = Path("/work/shared/datasets/nezha-ob")

HAND_MADE: list[bytes] = [
    b"<34>1 2024-03-01T10:00:00Z host1 payments 42 ID47 - connection refused by db",
    b"<13>Mar  1 10:00:00 web01 nginx[77]: upstream timed out (110: Connection timed out)",
    b"Mar  1 10:00:01 web02 sshd[9]: error: maximum authentication attempts exceeded",
    b'level=error ts=2024-03-01T10:00:02Z msg="dial tcp: lookup db: no such host" trace_id=4bf92f3577b34da6a3ce929d0e0e4736',
    b"ts=2024-03-01T10:00:03Z level=warn status=503 path=/pay duration=5s",
    b'{"level":"error","message":"OutOfMemoryError: Java heap space","service":"cart","traceId":"0af7651916cd43dd8448eb211c80319c"}',
    b'{"severity":"WARN","msg":"retrying","http.status_code":502,"exception.type":"IOError"}',
    b'{"log":"E0301 10:00:04.123456 1 main.go:42] failed to sync: context deadline exceeded\\n","stream":"stderr","time":"2024-03-01T10:00:04.2Z"}',
    b"2024-03-01T10:00:05.000000000Z stderr F panic: runtime error: index out of range",
    b"I0301 10:00:06.000001   12345 controller.go:99] Successfully synced pod",
    b"2024-03-01 10:00:07,123 ERROR [main] c.e.Svc - java.net.ConnectException: Connection refused",
    b"2024-03-01 10:00:08.5 INFO trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331 request ok",
    b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 upstream 504 Gateway Timeout",
    b"X-B3-TraceId: 80f198ee56343ba8 WARN slow call to redis",
    b"[warn] disk quota exceeded for /var/lib/data",
    b"(error) too many open files",
    b"FATAL: the database system is shutting down",
    b"1999-01-01T00:00:00Z INFO a time stamp before the accepted range",
    b"2999-01-01T00:00:00Z ERROR a time stamp after the accepted range",
    b"Traceback (most recent call last):",
    b'  File "/app/main.py", line 12, in <module>',
    b"    at com.example.Foo.bar(Foo.java:42)",
    b"goroutine 17 [running]:",
    b"",
    b"   ",
    b"no error found, all good",
    b"caf\xc3\xa9 ERROR \xe2\x80\x94 r\xc3\xa9seau inaccessible, timeout apr\xc3\xa8s 30s",
    b"bad utf-8 \xff\xfe here WARN trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
    b"carriage return line\r",
    b"two carriage returns\r\r",
    b"a NUL \x00 inside ERROR connection reset by peer",
    b"HTTP/1.1\" 500 internal error",
    b"status=502 upstream",
]


def sim_lines(profile: str, seconds: int = 20, seed: int = 3) -> list[bytes]:
    """The simulator's log bodies under `profile`, one line per text line."""
    sim = Simulation(SimConfig(duration_ns=seconds * 10**9, seed=seed, profile=profile, rps=30.0,
                               encoding="otlp-json"))
    out: list[bytes] = []
    for signal, payload in sim.messages():
        if signal != "logs":
            continue
        for rb in orjson.loads(payload)["resourceLogs"]:
            for sb in rb["scopeLogs"]:
                for r in sb["logRecords"]:
                    out.extend(r["body"]["stringValue"].encode().split(b"\n"))
    return out


def nezha_lines(limit: int) -> list[bytes]:
    """Up to `limit` log bodies of the nezha-ob dataset ([] when it is not on this machine)."""
    out: list[bytes] = []
    for path in sorted(NEZHA.glob("logs-*.json.gz")):
        doc = orjson.loads(gzip.decompress(path.read_bytes()))
        for rb in doc["resourceLogs"]:
            for sb in rb["scopeLogs"]:
                for r in sb["logRecords"]:
                    body = r.get("body", {}).get("stringValue", "")
                    out.extend(body.encode().split(b"\n"))
                    if len(out) >= limit:
                        return out[:limit]
    return out


def corpus(min_lines: int, seed: int = 5) -> list[bytes]:
    """At least `min_lines` lines: the simulator's text in both profiles, nezha-ob bodies
    for most of the rest (more simulator text when the dataset is absent), each hand-made
    line once; shuffled together."""
    lines = sim_lines("otel", 40) + sim_lines("real", 40)
    lines += nezha_lines(max(0, min_lines - len(lines) - len(HAND_MADE)))
    while len(lines) + len(HAND_MADE) < min_lines:
        lines += sim_lines("real", 20, seed=len(lines))
    lines += HAND_MADE
    random.Random(seed).shuffle(lines)
    return lines


# Rules that read every field the text path derives, so the identity test exercises each.
FIELD_RULES = [
    Rule("f-level", "level:ERROR"), Rule("f-level-num", "level >= 13"), Rule("f-info", "level:info"),
    Rule("f-trace", "trace_id:*"), Rule("f-trace-v", "trace_id:4bf92f3577b34da6a3ce929d0e0e4736"),
    Rule("f-span", "span_id:b7ad6b7169203331 OR span_id:00f067aa0ba902b7"),
    Rule("f-late", "telecorr.time_out_of_range:*"), Rule("f-late-v", "telecorr.time_out_of_range:/^3/"),
    Rule("f-svc", "service:cart OR host:web01"), Rule("f-not", "NOT level:INFO AND timeout"),
    Rule("f-none", "NOT message:zzzz"), Rule("f-attr", "status >= 500"),
]


def rule_pack(lines: list[bytes], total: int, fields: bool = True, seed: int = 11) -> list[Rule]:
    """`total` rules: the default pack, (with `fields`) the field rules, a phrase rule for
    each of up to 200 words that are rare in the corpus (at most 1 line in 500, as failure
    messages are), and templated failure-message regexes (benchmarks/rules.py, as SREs
    write them) for the rest."""
    rnd = random.Random(seed)
    seen: dict[str, int] = {}
    for line in lines:
        for w in set(line.decode("utf-8", "replace").split()):
            if len(w) >= 5 and w.isalpha() and w.isascii():
                seen[w] = seen.get(w, 0) + 1
    words = sorted(w for w, k in seen.items() if k <= max(1, len(lines) // 500))
    head = [*default_rules(), *(FIELD_RULES if fields else [])]
    picked = rnd.sample(words, min(200, len(words), max(0, total - len(head))))
    head += [Rule(f"w-{i:05d}", f'"{w}"') for i, w in enumerate(picked)]
    templated, _, _ = build(max(0, total - len(head)), 0)
    return head + templated


def write_rules(rules: list[Rule], path: Path) -> Path:
    """A YAML rule file of `rules` (JSON is valid YAML)."""
    path.write_bytes(orjson.dumps([{"id": r.id, "query": r.query} for r in rules]))
    return path
