"""`python -m bench`: run every benchmark module registered here and print one table each;
`python -m bench sla_clocks book`: only those (named without `bench.`).

Each benchmark module exposes `run() -> list[dict[str, object]]` and writes its own JSON
under bench/out/.
"""

import importlib
import os
import sys

# The peer (durabletask) talks gRPC; its C core logs every connection teardown at INFO.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

BENCHMARKS: tuple[str, ...] = (
    "bench.devhost",
    "bench.partner_center",
    "bench.book",
    "bench.intake",
    "bench.book_sync",
    "bench.sla_clocks",
    "bench.onboarding",
    "bench.dunning",
    "bench.billing",
)


def main(argv: list[str] | None = None) -> int:
    wanted = sys.argv[1:] if argv is None else argv
    unknown = [w for w in wanted if f"bench.{w}" not in BENCHMARKS]
    if unknown:
        print(f"no benchmark {', '.join(unknown)}; registered: {BENCHMARKS}", file=sys.stderr)
        return 2
    ran = 0
    for name in BENCHMARKS:
        if wanted and name.removeprefix("bench.") not in wanted:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                print(f"{name}: not in this checkout yet", file=sys.stderr)
                continue
            raise
        module.run()
        ran += 1
    return 0 if ran else 2


if __name__ == "__main__":
    sys.exit(main())
