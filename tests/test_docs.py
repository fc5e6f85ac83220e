"""The docs list every setting, topic, table, endpoint, command and worker metric the code has,
so an operator never meets one the README does not mention."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from pipeline.cli import build_parser
from pipeline.config import Settings, read_topics
from pipeline.worker.selfmetrics import WorkerMetrics

REPO = Path(__file__).resolve().parent.parent
DOCS = "\n".join(p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])


def _missing(names) -> list[str]:
    return sorted(n for n in names if f"`{n}`" not in DOCS and f"`{n} " not in DOCS)


def test_every_setting_is_documented():
    assert _missing(f.name for f in fields(Settings)) == []


def test_every_topic_is_documented():
    assert _missing(name for name, _ in read_topics()) == []


def test_every_table_is_documented():
    tables = set()
    for sql in (REPO / "schemas").glob("*.sql"):
        tables |= set(re.findall(r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS (\w+)", sql.read_text()))
    assert tables and _missing(tables) == []


def test_every_endpoint_is_documented(ch_client):
    from pipeline.api.app import create_app

    app = create_app(Settings(), ch_client)
    paths = {r.path for r in app.routes if hasattr(r, "methods")} - {"/docs", "/docs/oauth2-redirect", "/redoc"}
    assert paths and sorted(p for p in paths if p not in DOCS) == []


def test_every_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(c for c in sub.choices if f"telecorr {c}" not in DOCS) == []


def test_every_worker_metric_is_documented():
    names = {m.name for m in WorkerMetrics().registry.collect() if m.name.startswith("telecorr_")}
    assert names and _missing(names) == []
