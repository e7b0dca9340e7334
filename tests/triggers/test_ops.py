"""POST /api/ops/connectivity-checks on devhost (function keys enforced) with the real app,
the real sandboxes and Azurite: the check starts, collapses per minute, and reports."""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.devhost.host_process import ROOT, running_host
from triggers.ops import catalog_sync_instance_id, check_instance_id

pytestmark = pytest.mark.slow

KEY = "function-key-for-ops-tests"
ROUTE = "/api/ops/connectivity-checks"


def test_the_instance_id_is_one_per_utc_minute():
    assert check_instance_id(datetime(2026, 11, 2, 9, 5, 0, tzinfo=UTC)) == (
        "connectivity-check-20261102T0905"
    )
    assert check_instance_id(datetime(2026, 11, 2, 9, 5, 59, 999999, tzinfo=UTC)) == (
        "connectivity-check-20261102T0905"
    )
    assert check_instance_id(datetime(2026, 11, 2, 9, 6, tzinfo=UTC)) == (
        "connectivity-check-20261102T0906"
    )


def test_a_catalogue_import_is_one_instance_per_minute_and_set_of_markets():
    at = datetime(2026, 11, 2, 9, 5, 30, tzinfo=UTC)
    assert catalog_sync_instance_id(at, ["US", "DE"]) == "catalog-sync-20261102T0905-DE-US"
    assert catalog_sync_instance_id(at, ["DE", "US"]) == catalog_sync_instance_id(at, ["US", "DE"])


def wait_done(url: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status: dict[str, Any] = requests.get(url, timeout=10).json()
        if status["runtimeStatus"] not in ("Pending", "Running"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"the check did not finish: {status}")


def post(url: str) -> requests.Response:
    return requests.post(url + ROUTE, headers={"x-functions-key": KEY}, timeout=30)


def test_a_posted_check_reports_every_system_ok_and_posts_in_the_same_minute_collapse(
    app_values: dict[str, str], tmp_path: Path
):
    env = {**app_values, "TASKHUB_NAME": "opstests", "DEVHOST_FUNCTION_KEY": KEY}
    with running_host(ROOT, "--enable-auth", "--state-dir", str(tmp_path), env=env) as host:
        assert requests.post(host.url + ROUTE, timeout=10).status_code == 401

        for _ in range(2):  # a second try only if the two posts straddled a minute
            before = datetime.now(UTC).replace(second=0, microsecond=0)
            first, second = post(host.url), post(host.url)
            if datetime.now(UTC).replace(second=0, microsecond=0) == before:
                break
        assert first.status_code == second.status_code == 202, first.text
        assert first.json()["id"] == second.json()["id"] == check_instance_id(before)
        assert first.headers["Location"] == first.json()["statusQueryGetUri"]

        status = wait_done(first.json()["statusQueryGetUri"])
        assert status["runtimeStatus"] == "Completed", status
        report = status["output"]
        assert report["ok"], report
        assert [c["name"] for c in report["checks"]] == ["partner_center", "stripe", "storage"]
        assert status["customStatus"] == {"state": "done", "ok": True, "failed": []}


def test_a_check_against_a_dead_stripe_completes_with_stripe_failed(
    app_values: dict[str, str], tmp_path: Path
):
    env = {
        **app_values,
        "CSPFLOW_STRIPE_API_BASE": "http://127.0.0.1:9",  # discard port: nothing listens
        "TASKHUB_NAME": "opstests",
        "DEVHOST_FUNCTION_KEY": KEY,
    }
    with running_host(ROOT, "--enable-auth", "--state-dir", str(tmp_path), env=env) as host:
        started = post(host.url)
        assert started.status_code == 202, started.text
        status = wait_done(started.json()["statusQueryGetUri"])
    assert status["runtimeStatus"] == "Completed", status
    checks = {c["name"]: c for c in status["output"]["checks"]}
    assert checks["stripe"]["ok"] is False
    assert checks["stripe"]["failure"] == "unreachable"
    assert "PaymentsUnavailable" in checks["stripe"]["detail"]
    assert checks["partner_center"]["ok"] and checks["storage"]["ok"]
    assert status["customStatus"] == {"state": "done", "ok": False, "failed": ["stripe"]}
    assert env["CSPFLOW_STRIPE_API_KEY"] not in str(status)
