"""Shared fixtures: one local broker per test session, one chDB engine per test process.

chDB opens exactly one data directory per process, for the life of the process, so every test
in this process that needs ClickHouse goes through `ch_client` (a fresh database per test,
isolating tables); anything that needs its own store (the worker) runs as a subprocess.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chdb_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def rca_runs(chdb_root):
    """One simulated run per root-cause test case, loaded once for every module that ranks."""
    from tests.rca_support import CASES, load_fault

    return {name: load_fault(chdb_root, spec) for name, (spec, _, _) in CASES.items()}


@pytest.fixture
def ch_client(chdb_root):
    """A clickhouse-connect client on this process's chDB, inside a fresh database."""
    import clickhouse_connect

    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}")
    db = "t_" + uuid.uuid4().hex[:12]
    admin.command(f"CREATE DATABASE {db}")
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}", database=db)
    yield client
    admin.command(f"DROP DATABASE IF EXISTS {db} SYNC")


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> str:
    """Start Tansu with deploy/kafka/up.sh on a free port; stop it with down.sh at the end."""
    port = free_port()
    state = tmp_path_factory.mktemp("broker")
    env = dict(os.environ, KAFKA_PORT=str(port), TELECORR_STATE_DIR=str(state), PYTHON=sys.executable)
    subprocess.run(["bash", str(REPO / "deploy/kafka/up.sh")], env=env, check=True, capture_output=True)
    yield f"127.0.0.1:{port}"
    subprocess.run(["bash", str(REPO / "deploy/kafka/down.sh")], env=env, check=False, capture_output=True)


@pytest.fixture
def topic_prefix() -> str:
    """A fresh topic prefix per test, so tests sharing the broker never see each other's data."""
    return "t" + uuid.uuid4().hex[:8] + "."


@pytest.fixture(scope="session")
def shop_clean_run(broker, tmp_path_factory):
    """One undisturbed worker's run of the shop traffic, shared by the crash and scale-out tests."""
    from tests.workerproc import clean_shop_run

    return clean_shop_run(broker, tmp_path_factory.mktemp("shop_clean"))
