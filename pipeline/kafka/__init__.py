"""Talking to Kafka without Faust: readiness, topics from the packaged list,
publishing (the local broker's start-up stays `python -m pipeline.broker`)."""
