"""Secrets never printed: DSN passwords and token parameters are masked in `telecorr config`,
store errors, log lines and the API's answers; the API refuses to serve the network unprotected."""

from __future__ import annotations

import logging
import subprocess
import sys

import orjson
import pytest

from pipeline.api.server import UnprotectedBind, check_exposure
from pipeline.worker.logjson import JsonFormatter
from pipeline.redact import redact
from pipeline.store.client import StoreUnavailable, connect

SECRET = "hunter2"


@pytest.mark.parametrize("text, shown", [
    ("http://default:hunter2@clickhouse:8123/telecorr", "http://default:***@clickhouse:8123/telecorr"),
    ("https://:hunter2@ch:8443", "https://:***@ch:8443"),
    ("chdb:///var/lib/telecorr/chdb", "chdb:///var/lib/telecorr/chdb"),
    ("http://ch:8123/?user=api&password=hunter2&x=1", "http://ch:8123/?user=api&password=***&x=1"),
    ("failed: sasl_plaintext://svc:hunter2@kafka:9093 (token=hunter2)", "failed: sasl_plaintext://svc:***@kafka:9093 (token=***"),  # masks to the next space
    ("http://user@ch:8123", "http://user@ch:8123"),
])
def test_redact_masks_passwords_only(text, shown):
    assert redact(text) == shown


def test_config_prints_no_password(tmp_path):
    env = {"TELECORR_CLICKHOUSE": f"http://reader:{SECRET}@ch.internal:8123/telecorr", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "config"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert 'clickhouse = "http://reader:***@ch.internal:8123/telecorr"' in out and SECRET not in out


def test_store_error_names_the_server_without_its_password():
    with pytest.raises(StoreUnavailable) as info:
        connect(f"http://default:{SECRET}@127.0.0.1:1/telecorr")
    text = str(info.value)
    assert "127.0.0.1:1" in text and "default:***@" in text and SECRET not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no unmasked chained traceback


def test_log_lines_are_redacted():
    try:
        raise ConnectionError(f"cannot reach http://default:{SECRET}@ch:8123")
    except ConnectionError:
        record = logging.LogRecord("telecorr", logging.WARNING, __file__, 1, "insert failed (%s)",
                                   (f"http://default:{SECRET}@ch:8123",), sys.exc_info())
    line = orjson.loads(JsonFormatter().format(record))
    assert SECRET not in line["msg"] and SECRET not in line["exception"] and "default:***@ch" in line["msg"]


@pytest.mark.parametrize("host, token, refused", [
    ("127.0.0.1", "", False), ("localhost", "", False), ("::1", "", False),
    ("0.0.0.0", "", True), ("10.1.2.3", "", True), ("0.0.0.0", "t0ken", False),
])
def test_api_refuses_the_network_without_a_token(host, token, refused):
    if refused:
        with pytest.raises(UnprotectedBind, match="TELECORR_API_TOKEN"):
            check_exposure(host, token)
    else:
        check_exposure(host, token)


def test_status_sends_the_token_and_prints_urls_without_passwords(monkeypatch, capsys):
    """`telecorr status` reads a token-protected /metrics (the API's), and a URL it names in its
    output or errors never shows a password."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from pipeline.cli import build_parser

    seen: list[str] = []

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization", ""))
            body = b"telecorr_worker_records_total{signal=\"spans\"} 7\n"
            self.send_response(200 if seen[-1] == "Bearer t0ken" else 401)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("TELECORR_API_TOKEN", "t0ken")
        url = f"http://127.0.0.1:{server.server_port}/metrics?token={SECRET}"
        args = build_parser().parse_args(["status", "--url", url])
        assert args.func(args) == 0
        out = capsys.readouterr().out
        assert seen == ["Bearer t0ken"] and "7 records" in out.replace(",", "")
        assert SECRET not in out and "token=***" in out
        monkeypatch.delenv("TELECORR_API_TOKEN")
        assert args.func(args) == 1  # refused without it: said, without the secret
        err = capsys.readouterr().err
        assert "answered HTTP 401 (set TELECORR_API_TOKEN" in err and SECRET not in err
    finally:
        server.shutdown()
