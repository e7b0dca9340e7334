"""Crash safety: SIGKILL the host at seeded random moments, restart, and every instance still
finishes with the right output while no payment takes effect twice."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devhost.app import load_app
from devhost.engine import DurableEngine
from devhost.status import RuntimeStatus
from tests.devhost.apps.crashy.function_app import LEDGER_SCHEMA
from tests.devhost.conftest import APPS

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = 12
STEPS = 8
KILLS = 5
# Each instance's critical path is at least 11 sequential 0.1 s payments plus a timer, so
# five kills at most 0.2 s after start-up always interrupt unfinished work.
KILL_AFTER = (0.02, 0.2)


def _spawn(db: Path, ledger: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CRASH_LEDGER": str(ledger), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.devhost.crash_runner",
            "--app",
            str(APPS / "crashy"),
            "--db",
            str(db),
            "--instances",
            str(INSTANCES),
            "--steps",
            str(STEPS),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 2026])
def test_sigkill_at_random_points_loses_nothing_and_charges_once(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    db, ledger = tmp_path / "engine.db", tmp_path / "ledger.db"
    with sqlite3.connect(ledger) as conn:
        conn.executescript(LEDGER_SCHEMA)
    for _ in range(KILLS):
        proc = _spawn(db, ledger)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "STARTED"
        time.sleep(rng.uniform(*KILL_AFTER))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    before = DurableEngine(load_app(APPS / "crashy"), db)
    unfinished = len(before.list_instances(statuses=["Running", "Pending"])[0])
    before.close()
    assert unfinished > 0, "the kills should have interrupted work in flight"
    final = _spawn(db, ledger)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err[-3000:]
    assert "DONE" in out

    engine = DurableEngine(load_app(APPS / "crashy"), db)
    try:
        expected_total = sum(range(1, STEPS + 1)) + 30
        for n in range(INSTANCES):
            status = engine.get_status(f"pay-{n}")
            assert status is not None
            assert status.runtime_status is RuntimeStatus.Completed, status.output
            assert status.output == {"total": expected_total, "refund": -5}
            engine.replay_check(f"pay-{n}")
        assert engine.read_entity_state("Tally", "all").state == INSTANCES * expected_total
    finally:
        engine.close()

    conn = sqlite3.connect(ledger)
    effects = dict(conn.execute("SELECT key, amount FROM effects"))
    executions = conn.execute("SELECT key, COUNT(*) FROM executions GROUP BY key").fetchall()
    conn.close()
    keys_per_instance = STEPS + 3 + 1
    assert len(effects) == INSTANCES * keys_per_instance  # every payment exactly once
    assert {k for k, _ in executions} == set(effects)
    # At-least-once: re-runs are allowed (and show the kills landed mid-flight), effects are not.
    reruns = sum(count - 1 for _, count in executions)
    print(json.dumps({"seed": seed, "unfinished_before_final_run": unfinished, "reruns": reruns}))
