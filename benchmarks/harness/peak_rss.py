"""Run a worker process to its end and report its peak resident memory (the issue's "memory
per worker" figure).

The kernel keeps each process's high-water RSS and hands it to the parent that reaps it
(`wait4`), so the figure is exact and costs the worker nothing; `subprocess.run` reaps with
`waitpid` and throws it away, hence this small wrapper.
"""

from __future__ import annotations

import os
import subprocess
import time


def run_measured(cmd: list[str], timeout: float, **popen: object) -> tuple[int, float]:
    """Run `cmd` (Popen keyword arguments as given; point stdout/stderr at files or DEVNULL,
    nothing reads pipes here) and return (exit code, peak RSS in MiB). On timeout the process
    is killed and `subprocess.TimeoutExpired` raised, like `subprocess.run`."""
    proc = subprocess.Popen(cmd, **popen)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss / 1024  # Linux reports KiB
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(cmd, timeout)
        time.sleep(0.05)
