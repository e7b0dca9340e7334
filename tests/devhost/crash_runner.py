"""Child process for the crash test: run the engine on a database until every instance of
the workload is finished, then print DONE. The test SIGKILLs it at random moments."""

from __future__ import annotations

import argparse
import sys

from devhost.app import load_app
from devhost.engine import DurableEngine


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--instances", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    args = parser.parse_args(argv)
    engine = DurableEngine(load_app(args.app), args.db)
    engine.start()
    ids = [f"pay-{n}" for n in range(args.instances)]
    for instance_id in ids:
        if engine.get_status(instance_id) is None:
            engine.start_new("payment_run", instance_id=instance_id, input={"steps": args.steps})
    print("STARTED", flush=True)
    for instance_id in ids:
        status = engine.wait_for_completion(instance_id, timeout=60)
        if not status.runtime_status.is_terminal:
            print(f"STUCK {instance_id} {status.runtime_status}", flush=True)
            return 1
    engine.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
