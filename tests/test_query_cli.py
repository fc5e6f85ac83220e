"""`telecorr match` and `telecorr query check`: output contracts and exit codes."""

from __future__ import annotations

import io
import json
import sys

import pytest

from pipeline import cli

MODULE = "pipeline.commands.match"


@pytest.fixture(autouse=True)
def with_match_commands(monkeypatch):
    if MODULE not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", tuple(cli.COMMAND_MODULES) + (MODULE,))


def test_match_writes_one_object_per_line_with_sorted_rules(tmp_path, capsys, monkeypatch):
    rules = tmp_path / "rules.yaml"
    rules.write_text("- id: zz-timeout\n  query: timeout\n- id: aa-pay\n  query: service:payment\n")
    logs = tmp_path / "app.log"
    logs.write_text('{"service":"payment","msg":"upstream timeout"}\nall good\n\n'
                    'level=error msg="read timeout" service=payment\n')
    # sys.stdout.buffer is what the command writes to; capture it through capsys's text stream.
    buf = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buf))
    code = cli.main(["match", "--rules", str(rules), "--stats", str(logs)])
    sys.stdout.flush()
    err = capsys.readouterr().err
    assert code == 0
    out = [json.loads(x) for x in buf.getvalue().decode().splitlines()]
    assert out == [{"line": 1, "rules": ["aa-pay", "zz-timeout"]}, {"line": 2, "rules": []},
                   {"line": 3, "rules": []}, {"line": 4, "rules": ["aa-pay", "zz-timeout"]}]
    stats = json.loads(err.strip().splitlines()[-1])
    assert stats["lines"] == 4 and stats["seconds"] > 0 and stats["lines_per_s"] > 0


def test_match_reads_stdin_with_default_rules(capsys, monkeypatch):
    buf = io.BytesIO()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"connection refused\nfine\n")))
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buf))
    assert cli.main(["match", "--format", "text", "-"]) == 0
    sys.stdout.flush()
    out = [json.loads(x) for x in buf.getvalue().decode().splitlines()]
    assert out == [{"line": 1, "rules": ["connection-refused"]}, {"line": 2, "rules": []}]


def test_match_bad_rule_file_exits_2(tmp_path, capsys):
    rules = tmp_path / "r.yaml"
    rules.write_text("- id: a\n  query: '(x'\n")
    code = cli.main(["match", "--rules", str(rules), str(rules)])
    assert code == 2 and "unexpected end of query" in capsys.readouterr().err


def test_query_check_prints_tree_and_sql(capsys):
    code = cli.main(["query", "check", "NOT NOT service:payment AND status >= 500"])
    out = capsys.readouterr().out
    assert code == 0
    assert "AST:" in out and "service:payment" in out and "NOT" not in out
    assert "service = {p0:String}" in out and '"payment"' in out


def test_query_check_error_has_position_and_exit_2(capsys):
    code = cli.main(["query", "check", "level:error AND (timeout"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == "level:error AND (timeout" and lines[1] == " " * 24 + "^"
    assert "position 24" in lines[2] and "expected ')'" in lines[2]
