"""The Cython build (pipeline/compiled.py, setup.py): one source, compiled or not.

CI sets TELECORR_EXPECT_BUILD to `compiled` for the suite run against `pip install -e .`, and
to `pure` for the job run against the plain source, so each job proves which code it tested.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from pipeline.commands.status import summary
from pipeline.compiled import COMPILED, build_status
from pipeline.worker.selfmetrics import WorkerMetrics

ROOT = Path(__file__).resolve().parent.parent


def test_every_listed_module_is_plain_python_source() -> None:
    for module in COMPILED:
        src = ROOT / (module.replace(".", "/") + ".py")
        assert src.is_file(), f"{module} has no .py source to compile"
        # pure-Python mode: no .pyx/.pxd beside it, so the .py is the only implementation
        assert not src.with_suffix(".pyx").exists() and not src.with_suffix(".pxd").exists()


def test_the_build_ci_asked_for_is_the_one_imported() -> None:
    status = build_status()
    expect = os.environ.get("TELECORR_EXPECT_BUILD")
    if expect:
        assert status == dict.fromkeys(COMPILED, expect == "compiled"), status
    else:  # by hand: whichever build, never half of one (a partial compile)
        assert len(set(status.values())) == 1, status


def test_no_compiled_module_is_older_than_its_source() -> None:
    # An edited .py beside an old extension would silently run the old code: rebuild with
    # `python setup.py build_ext --inplace` (or `pip install -e .`) after editing one.
    for module, compiled in build_status().items():
        if compiled:
            ext = Path(importlib.import_module(module).__file__)
            src = ext.parent / (module.rsplit(".", 1)[1] + ".py")
            assert src.stat().st_mtime <= ext.stat().st_mtime, f"{ext.name} is older than {src.name}: rebuild it"


def test_compiled_or_not_the_modules_behave_as_python() -> None:
    # A compiled module keeps Python's view of its functions (binding=True): introspection,
    # docstrings and keyword arguments work as they do uncompiled.
    engine = importlib.import_module("pipeline.correlate.engine")
    assert "windowed join" in engine.Correlator.__doc__
    rows = importlib.import_module("pipeline.correlate.joined_rows")
    assert rows.severity_name.__name__ == "severity_name"


def test_workers_export_and_status_shows_the_build() -> None:
    metrics = WorkerMetrics()
    got = {s.labels["module"]: s.value for fam in metrics.registry.collect()
           if fam.name == "telecorr_build_compiled" for s in fam.samples}
    status = build_status()
    assert got == {m: float(c) for m, c in status.items()}
    scraped = {"telecorr_build_compiled": {(("module", m),): float(c) for m, c in status.items()}}
    line = [ln for ln in summary(scraped) if ln.startswith("build:")]
    assert line == [f"build:  {sum(status.values())} of {len(COMPILED)} hot modules compiled"]
