"""Wait for the broker, then create the topics of topics.txt for a prefix (used by up.sh)."""
import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a clone without installing

from pipeline.kafka_io import BrokerUnavailable, ensure_topics, wait_for_broker  # noqa: E402


async def main(args: argparse.Namespace) -> int:
    try:
        await wait_for_broker(args.broker, args.wait)
    except BrokerUnavailable as exc:
        print(f"topics.py: {exc}", file=sys.stderr)
        return 1
    created = await ensure_topics(args.broker, args.prefix)
    print(f"broker ready at {args.broker}; topics created: {len(created)}"
          + (f" ({', '.join(created)})" if created else " (all present)"))
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--wait", type=float, default=30.0)
    sys.exit(asyncio.run(main(ap.parse_args())))
