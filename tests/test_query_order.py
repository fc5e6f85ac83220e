"""Every grouped read the ranking and the API run names its row order.

ClickHouse returns GROUP BY results in whatever order its threads finish. Rankings sort by
scores that tie (z-scores are capped), and a stable sort keeps the input order among ties,
so without ORDER BY the same data could rank, or cite evidence, differently on two calls.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pipeline.rca
import pipeline.store.queries

_SQL = re.compile(r"\bSELECT\b.*\bGROUP BY\b", re.S)


def _grouped_reads():
    for pkg in (pipeline.rca, pipeline.store.queries):
        for info in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name, value in vars(mod).items():
                if name.isupper() and isinstance(value, str) and _SQL.search(value):
                    yield f"{mod.__name__}.{name}", value


def test_there_are_grouped_reads_to_check():
    assert len(list(_grouped_reads())) >= 10


def test_every_grouped_read_orders_its_rows():
    unordered = [name for name, sql in _grouped_reads()
                 if "ORDER BY" not in sql.rsplit("GROUP BY", 1)[1]]
    assert unordered == []
