"""Child process for the onboarding crash test: devhost's Durable engine with the app's real
function_app.py, on a database that survives it, runs the onboardings in `--orders` (one
Onboarding input per line) until every one has finished, then prints DONE. The test SIGKILLs
it at random moments and runs it again; the app's settings come from the environment."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devhost.app import load_app
from devhost.engine import DurableEngine

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--orders", required=True)
    args = parser.parse_args(argv)
    orders = [json.loads(line) for line in Path(args.orders).read_text().splitlines() if line]
    engine = DurableEngine(load_app(ROOT), args.db)
    engine.start()
    ids = [f"order-{order['order_id']}" for order in orders]
    for instance_id, order in zip(ids, orders, strict=True):
        if engine.get_status(instance_id) is None:
            engine.start_new("onboarding", instance_id=instance_id, input=order)
    print("STARTED", flush=True)
    for instance_id in ids:
        status = engine.wait_for_completion(instance_id, timeout=300)
        if not status.runtime_status.is_terminal:
            print(f"STUCK {instance_id} {status.runtime_status}", flush=True)
            return 1
    engine.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
