"""The e2e fixture's own failure paths: a stack that cannot start says why and leaves nothing
running; a stack that will not stop is killed after the grace period, with every process it
left behind, and the stop fails saying so."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.harness import ROOT, StackFailure, Supervisor, processes_naming, start_stack

pytestmark = pytest.mark.slow

IGNORE_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('deaf', flush=True); time.sleep(600)"
)


def test_a_stack_that_cannot_start_fails_with_its_reason_and_leaves_nothing(tmp_path: Path):
    root = tmp_path / "checkout"  # no node_modules: Azurite is missing
    root.mkdir()
    (root / "function_app.py").write_text("")
    shutil.copy(ROOT / "local.settings.json.example", root)
    state = tmp_path / "state"

    with pytest.raises(StackFailure, match="Azurite is not installed"), start_stack(state, root):
        pass

    assert processes_naming(state) == []
    assert not (root / "local.settings.json").exists()  # --settings example: nothing written


def test_a_stack_that_does_not_stop_is_killed_with_what_it_left_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(harness, "STOP_TIMEOUT_S", 1.0)
    state = tmp_path / "state"
    state.mkdir()

    def stubborn(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", IGNORE_SIGTERM, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stdout.readline() == "deaf\n"
        return proc

    supervisor = stubborn("--state-dir", str(state))
    orphan = stubborn("--data", str(state / "sandbox" / "stripe"))  # in its own session
    assert {pid for pid, _ in processes_naming(state)} == {supervisor.pid, orphan.pid}

    try:
        with pytest.raises(StackFailure) as failure:
            harness._stop(Supervisor(supervisor, state), must_stop_cleanly=True)
    finally:
        for proc in (supervisor, orphan):
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                assert stream is not None
                stream.close()

    assert "did not stop within 1 s; killed" in str(failure.value)
    assert f"left running, killed: {orphan.pid}" in str(failure.value)
    assert processes_naming(state) == []
