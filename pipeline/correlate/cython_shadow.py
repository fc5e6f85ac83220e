"""What the compiled modules use of the `cython` module, for plain Python without Cython.

Type declarations only: they change nothing when the code runs uncompiled.
"""

from __future__ import annotations

longlong = Py_ssize_t = int


def locals(**_types: object):  # noqa: A001  (the name Cython gives it)
    """@cython.locals(...): C types of locals when compiled; the function as it is here."""
    return lambda func: func
