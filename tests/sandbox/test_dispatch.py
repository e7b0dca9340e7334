import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args], capture_output=True, text=True, timeout=60
    )


def test_an_unknown_sandbox_is_refused_with_the_choices():
    result = _run("paypal")
    assert result.returncode == 2
    assert "partner-center" in result.stderr and "stripe" in result.stderr


def test_no_arguments_prints_usage_and_fails():
    result = _run()
    assert result.returncode == 2
    assert "usage" in result.stdout
