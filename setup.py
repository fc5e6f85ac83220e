"""Builds the hot modules listed in pipeline/compiled.py as C extensions with Cython.

Everything else about the distribution is in pyproject.toml. TELECORR_PURE=1 skips the
compilation (the package then runs as plain Python, the same source).
"""

import hashlib
import os
import runpy

from setuptools import setup

listing = runpy.run_path(os.path.join("pipeline", "compiled.py"))
pure = os.environ.get(listing["PURE_ENV"], "").lower() in ("1", "true", "yes")
ext_modules = []
if not pure:
    from Cython.Build import cythonize
    from setuptools import Extension

    # Annotations stay documentation: typed by them, Cython would reject a defaultdict where
    # `dict` is written, or None for a `list` argument, which plain Python accepts.
    directives = {"language_level": "3", "binding": True, "annotation_typing": False}
    ext_modules = cythonize(
        [Extension(m, [m.replace(".", "/") + ".py"]) for m in listing["COMPILED"]],
        compiler_directives=directives,
        # The generated C stays out of the source tree, in a directory per set of directives:
        # cythonize regenerates C only for a newer .py, so changed directives need a fresh one.
        build_dir="build/cython-" + hashlib.sha256(repr(sorted(directives.items())).encode()).hexdigest()[:12],
        quiet=True,
    )

setup(ext_modules=ext_modules)
