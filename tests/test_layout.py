"""The tree's rules (docs/architecture.md, Packages): the shipped packages never import a
harness, no module outgrows 450 lines, and one file name means one job."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import agents
import pipeline

SHIPPED = [Path(pipeline.__file__).parent, Path(agents.__file__).parent]
REPO = SHIPPED[0].parent
SAME_JOB = [{"agents/app.py", "pipeline/api/app.py"}, {"pipeline/rca/window.py", "pipeline/store/queries/window.py"},
            {"pipeline/api/traces.py", "pipeline/store/queries/traces.py"},
            {"pipeline/commands/status.py", "pipeline/store/queries/status.py"},
            {"pipeline/commands/rca.py", "pipeline/store/queries/rca.py"}]


def _modules() -> list[Path]:
    return sorted(p for root in SHIPPED for p in root.rglob("*.py"))


def _allowed(paths: list[Path]) -> bool:
    """Files that may share a name: an `app.py` is its package's application object (Faust
    in agents/, FastAPI in api/), and a module of store/queries/ is named for the module whose
    reads it holds."""
    return {p.relative_to(REPO).as_posix() for p in paths} in SAME_JOB


def test_the_shipped_packages_never_import_a_harness():
    found = []
    for path in _modules():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*(from|import)\s+(benchmarks|tests)\b", line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert found == []


def test_no_module_is_over_450_lines():
    long = {p.relative_to(REPO).as_posix(): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


def test_one_file_name_is_one_job():
    by_name: dict[str, list[Path]] = defaultdict(list)
    for path in _modules():
        by_name[path.name].append(path)
    shared = {name: [p.relative_to(REPO).as_posix() for p in paths] for name, paths in by_name.items()
              if len(paths) > 1 and name != "__init__.py" and not _allowed(paths)}
    assert shared == {}

