"""The compose file is authenticated by default. Docker cannot run on the build machines, so
this checks the file as Compose would read it: every secret is required (`${VAR:?…}`), no
broker or database port is published unless the opt-in override is added, the API reads as a
SELECT-only user and needs a token, and its host port is on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "kafka"
BASE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
PUBLISH = yaml.safe_load((DEPLOY / "compose.publish.yaml").read_text())


def _required(value: str, var: str) -> bool:
    return re.search(r"\$\{" + var + r":\?[^}]+\}", value) is not None


def test_no_broker_or_database_port_unless_asked_for():
    services = BASE["services"]
    assert "ports" not in services["kafka"] and "ports" not in services["clickhouse"]
    assert all("ports" not in s for name, s in services.items() if name != "api")
    # The opt-in override publishes them, on loopback only.
    assert PUBLISH["services"]["kafka"]["ports"] == ["127.0.0.1:9094:9094"]
    assert PUBLISH["services"]["clickhouse"]["ports"] == ["127.0.0.1:8123:8123"]


def test_clickhouse_has_passwords_and_a_read_only_user_for_the_api():
    ch = BASE["services"]["clickhouse"]["environment"]
    assert ch["CLICKHOUSE_USER"] != "default" and "CLICKHOUSE_SKIP_USER_SETUP" not in ch
    assert _required(ch["CLICKHOUSE_PASSWORD"], "CLICKHOUSE_PASSWORD")
    assert _required(ch["CLICKHOUSE_READER_PASSWORD"], "CLICKHOUSE_READER_PASSWORD")
    init = (DEPLOY / "clickhouse-init" / "reader.sh").read_text()
    assert "CREATE USER IF NOT EXISTS reader" in init and "readonly = 2" in init
    assert "GRANT SELECT ON ${CLICKHOUSE_DB}.* TO reader" in init and "INSERT" not in init
    worker = BASE["services"]["worker"]["environment"]
    api = BASE["services"]["api"]["environment"]
    assert worker["TELECORR_CLICKHOUSE"].startswith("http://telecorr:${CLICKHOUSE_PASSWORD:?")
    assert api["TELECORR_CLICKHOUSE"].startswith("http://reader:${CLICKHOUSE_READER_PASSWORD:?")


def test_api_needs_a_token_and_is_published_on_loopback():
    api = BASE["services"]["api"]
    assert _required(api["environment"]["TELECORR_API_TOKEN"], "TELECORR_API_TOKEN")
    (port,) = api["ports"]
    assert port == "${TELECORR_API_PUBLISH:-127.0.0.1:8080}:8080"
    assert "telecorr api --host 0.0.0.0" in api["command"]  # allowed only because a token is set


def test_containers_run_the_installed_package_not_the_checkout():
    for name in ("topics", "worker", "api"):
        command = BASE["services"][name]["command"]
        assert "pip install -q /tmp/telecorr" in command and "-e" not in command.split(), name
    assert "python -m pipeline.kafka.broker topics" in BASE["services"]["topics"]["command"]
