"""Talking to Kafka without Faust (readiness, topics from the packaged list,
publishing) and starting a local broker."""
