"""Proxy settings read once per process (shared/proxies.py): a process started without a
proxy keeps its HTTP sessions from scanning the environment on every request; one started
with a proxy keeps requests' own handling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
from shared.proxies import TRUST_ENVIRONMENT
from shared.partner_center.auth import TrustingSession
from shared.payments.client import _session
print(TRUST_ENVIRONMENT, TrustingSession(None).trust_env, _session().trust_env)
"""


def _probe(**proxies: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(proxies)
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_without_a_proxy_no_session_reads_the_environment_again():
    assert _probe() == "False False False"


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "NO_PROXY"])
def test_with_a_proxy_configured_sessions_keep_reading_the_environment(variable):
    assert _probe(**{variable: "http://proxy.internal:3128"}) == "True True True"
