"""Correlated rows are the same, row for row, on the simulator's data: whichever by-trace wire
version carried the records, and whether the join's modules run compiled or as plain source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from pipeline.compiled import build_status
from tests.sim_rows import simulator_rows

ROOT = Path(__file__).resolve().parent.parent


def test_v1_and_v2_wire_give_the_same_rows():
    v1 = simulator_rows("v1")
    assert len(v1) > 1000 and any(r["log_ids"] for r in v1) and any(r["is_error"] for r in v1)
    assert simulator_rows("v2") == v1


def test_compiled_and_plain_source_give_the_same_rows(tmp_path):
    # The plain source: the same .py files without the extensions built beside them.
    for pkg in ("pipeline", "tests"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    probe = "from pipeline.compiled import build_status; print(any(build_status().values()))"
    assert subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip() == "False"
    # ... and without Cython installed (pipeline/correlate/cython_shadow.py stands in for it)
    no_cython = ("import runpy, sys; sys.modules['cython'] = None; sys.argv[1:] = ['v2']; "
                 "runpy.run_module('tests.sim_rows', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", no_cython], env=env, cwd=tmp_path,
                         capture_output=True, check=True, timeout=300).stdout
    plain = [orjson.loads(line) for line in out.splitlines()]
    here = simulator_rows("v2")
    assert len(here) == len(plain) > 1000
    assert here == plain, f"build {build_status()} differs from plain source"
