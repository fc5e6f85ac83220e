"""Rule files, the default rule pack, and the rule-file JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from pipeline.ingest.logs import parse_logs
from pipeline.model import LogRecord
from pipeline.query import (QueryError, Rule, RuleFileError, compile_rules, default_rules, load_rules,
                            rules_from_setting)
from pipeline.query.rulefile import SEVERITIES, SIGNALS, rules_from_data

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "schemas" / "rules.schema.json").read_text())

# One line per default rule that must match it, and lines that must match nothing.
EXAMPLES = {
    "oom": "java.lang.OutOfMemoryError: Java heap space",
    "connection-refused": "dial tcp 10.1.2.3:5432: connect: connection refused",
    "connection-reset": "read tcp 10.0.0.1:443: read: connection reset by peer",
    "timeout": "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
    "dns-failure": "dial tcp: lookup payments.svc.cluster.local on 10.96.0.10:53: no such host",
    "http-5xx": '10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] "GET /pay HTTP/1.1" 503 19',
    "exception": "Caused by: java.sql.SQLTransientConnectionException: pool timed out",
    "stack-trace": "Exception in thread main\n\tat com.acme.Pay.charge(Pay.java:42)",
    "disk-full": "write /var/lib/data/wal: no space left on device",
    "too-many-open-files": "accept4: too many open files; retrying in 1s",
    "deadlock": "ERROR 1213 (40001): Deadlock found when trying to get lock",
    "tls-error": "x509: certificate has expired or is not yet valid",
    "crash-loop": "Back-off restarting failed container payments in pod payments-7d9",
    "pool-exhausted": "HikariPool-1 - Connection pool exhausted, waited 30000ms",
    "circuit-open": "circuit breaker 'inventory' is OPEN, failing fast",
}
QUIET = ["GET /health 200 1ms", "user 42 logged in", "processed 17 messages in 12ms",
         "level=info msg=\"cache warmed\" entries=1200"]


def _tags(lines: list[str]) -> list[tuple[str, ...]]:
    logs = [LogRecord(time_ns=0, body=b) for b in lines]
    parse_logs(logs)
    return compile_rules(default_rules()).match_batch(logs)


def test_default_pack_covers_each_rule_with_an_example():
    rules = default_rules()
    assert {r.id for r in rules} == set(EXAMPLES)
    for (rid, line), tags in zip(EXAMPLES.items(), _tags(list(EXAMPLES.values()))):
        assert rid in tags, (rid, line, tags)


def test_default_pack_is_quiet_on_ordinary_lines():
    assert _tags(QUIET) == [() for _ in QUIET]


def test_default_pack_validates_against_schema():
    data = yaml.safe_load((REPO / "pipeline/query/rules/default.yaml").read_text())
    jsonschema.validate(data, SCHEMA)
    assert all(r.signal and r.severity for r in default_rules())


def test_schema_and_loader_agree_on_enums():
    props = SCHEMA["items"]["properties"]
    assert set(props["signal"]["enum"]) == set(SIGNALS)
    assert set(props["severity"]["enum"]) == set(SEVERITIES)


def test_load_rules_reads_yaml(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("- id: oom\n  query: 'message:/OutOfMemoryError|OOMKilled/'\n  signal: resource\n"
                 "- id: slow\n  query: duration_ms >= 1000\n")
    assert load_rules(f) == [Rule("oom", "message:/OutOfMemoryError|OOMKilled/", "", "resource"),
                             Rule("slow", "duration_ms >= 1000")]


@pytest.mark.parametrize("text,fragment", [
    ("id: x", "a list of rules"),
    ("- id: a\n  query: x\n- id: a\n  query: y\n", "duplicate id"),
    ("- id: a\n", "query must be a string"),
    ("- id: 'bad id'\n  query: x\n", "id must match"),
    ("- id: a\n  query: x\n  signal: vibes\n", "signal"),
    ("- id: a\n  query: x\n  colour: red\n", "unknown keys"),
    ("- id: a\n  query: 'x AND'\n", "rule #1 (a): unexpected end of query"),
    ("- [unclosed\n", "r.yaml"),
])
def test_bad_rule_files_name_the_problem(tmp_path, text, fragment):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(RuleFileError, match=None) as ei:
        load_rules(f)
    assert fragment in str(ei.value)
    assert isinstance(ei.value, QueryError)


def test_rules_from_setting_falls_back_to_default_pack(tmp_path):
    assert rules_from_setting("") == default_rules()
    f = tmp_path / "r.yaml"
    f.write_text("- id: a\n  query: x\n")
    assert rules_from_setting(str(f)) == [Rule("a", "x")]


BOTH_REFUSE = "message:/(a{1000}){1000}/"  # a 10^6-fold repeat: over both engines' limits


def test_a_regex_both_engines_refuse_fails_validation_naming_rule_and_engines(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump([{"id": "ok", "query": "message:timeout"},
                                    {"id": "huge.repeat", "query": "level:error AND " + BOTH_REFUSE}]))
    with pytest.raises(RuleFileError) as info:
        load_rules(path)
    text = str(info.value)
    assert "rule #2 (huge.repeat)" in text and "(a{1000}){1000}" in text
    assert "Hyperscan:" in text and "RE2: invalid repetition size" in text
    assert info.value.query.find("(a{1000})") == info.value.position
    # A regex only RE2 evaluates (Hyperscan has no use for one that matches empty) still loads.
    assert [r.id for r in rules_from_data([{"id": "e", "query": "message:/x*/"}])] == ["e"]


def test_match_and_worker_report_the_refused_rule_without_a_traceback(tmp_path):
    import subprocess
    import sys

    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump([{"id": "huge.repeat", "query": BOTH_REFUSE}]))
    lines = tmp_path / "app.log"
    lines.write_text("a line\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path), "TELECORR_RULES_FILE": str(rules)}
    for argv in (["match", "--rules", str(rules), str(lines)],
                 ["--broker", "127.0.0.1:1", "--clickhouse", f"chdb://{tmp_path / 'db'}", "worker"]):
        out = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode != 0, argv
        assert "huge.repeat" in out.stderr and "refused by both regex engines" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr, out.stderr
