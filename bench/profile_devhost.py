"""Profile devhost on one benchmark workload, every thread of the host included.

    .venv/bin/python -m bench.profile_devhost hello_sequence5 [--sort tottime] [--limit 40]

cProfile sees only the thread it is enabled in, so this enables one profiler per thread
(the engine's worker, each activity thread, the caller's `start_new`) and merges them. The
profilers count each thread's CPU time (`time.thread_time`), not wall time: time a thread
spends waiting for the GIL or a lock is not charged to the function it was in, which on a
shared machine would otherwise drown the figures. Not part of `make bench`.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.devhost import APP_DIR, WARM_UP, WORKLOADS, run_devhost
from devhost.app import load_app
from devhost.engine import DurableEngine


class ThreadProfiles:
    """One CPU-time profiler per thread, enabled around the wrapped calls."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.profiles: list[cProfile.Profile] = []

    def wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def profiled(*args: Any, **kwargs: Any) -> Any:
            profile = self._profile()
            profile.enable()
            try:
                return method(*args, **kwargs)
            finally:
                profile.disable()

        return profiled

    def _profile(self) -> cProfile.Profile:
        profile: cProfile.Profile | None = getattr(self._local, "profile", None)
        if profile is None:
            profile = cProfile.Profile(time.thread_time)
            self._local.profile = profile
            with self._lock:
                self.profiles.append(profile)
        return profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=[w.orchestrator for w in WORKLOADS])
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args(argv)
    workload = next(w for w in WORKLOADS if w.orchestrator == args.workload)
    app = load_app(APP_DIR)
    profiles = ThreadProfiles()
    originals = {
        name: getattr(DurableEngine, name) for name in ("_run", "_run_activity", "start_new")
    }
    with tempfile.TemporaryDirectory(prefix="devhost-profile-") as tmp:
        run_devhost(app, WARM_UP, Path(tmp) / "warm.db")
        for name, method in originals.items():
            setattr(DurableEngine, name, profiles.wrap(method))
        try:
            result = run_devhost(app, workload, Path(tmp) / "profiled.db")
        finally:
            for name, method in originals.items():
                setattr(DurableEngine, name, method)
    print(
        f"{workload.name}: {result.seconds * 1000:.1f} ms wall, "
        f"{result.cpu_seconds * 1000:.1f} ms CPU (profiled), {len(result.contexts)} episodes"
    )
    stats = pstats.Stats(profiles.profiles[0])
    for profile in profiles.profiles[1:]:
        stats.add(profile)
    stats.sort_stats(args.sort).print_stats(args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
