"""Wait for a broker, then create and check the topics of telecorr's packaged list for a prefix.

A wrapper for a clone without an install; with telecorr installed, run
`python -m pipeline.kafka.broker topics --broker HOST:PORT --prefix P` instead (the compose file does).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this wrapper only: find the clone's package

from pipeline.kafka.broker import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["topics", *sys.argv[1:]]))
