"""From an input message to records: framing, decoding, log parsing, and the ingest
stage that runs them (with rule tagging) on one batch."""
