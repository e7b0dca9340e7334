"""The connectivity_check orchestrator, driven as a generator (tests/orchestrator_driver.py)."""

import pytest

from shared.errors import Failure
from shared.models.connectivity import ConnectivityReport, StorageProbe
from shared.storage import EVENTS_TABLE, PARTNER_CENTER_EVENTS_QUEUE
from tests.orchestrator_driver import (
    T0,
    ActivityFailed,
    drive,
    refused,
    retries_spent,
    succeeded,
)
from workflows.connectivity import CHECKS, RETRY, connectivity_check
from workflows.durable import RETRY_POLICIES

ACTIVITIES = ("check_partner_center", "check_stripe", "check_storage")
NAMES = {
    "check_partner_center": "partner_center",
    "check_stripe": "stripe",
    "check_storage": "storage",
}


def ok(activity: str) -> dict[str, object]:
    return succeeded(
        {"name": NAMES[activity], "ok": True, "latency_ms": None, "detail": "fine"}, elapsed_ms=12
    )


def all_ok() -> dict[str, object]:
    return {a: ok(a) for a in ACTIVITIES}


def test_every_check_runs_once_with_the_probe_retry_policy_and_its_probe():
    run = drive(connectivity_check, all_ok())
    assert [c.name for c in run.calls] == list(ACTIVITIES)
    assert all(c.retry is RETRY for c in run.calls)
    assert RETRY is RETRY_POLICIES["probe"]
    assert RETRY.max_number_of_attempts == 3
    assert RETRY.first_retry_interval_in_milliseconds == 2000
    storage = StorageProbe.model_validate(run.calls[2].input)
    assert (storage.table, storage.queue) == (EVENTS_TABLE, PARTNER_CENTER_EVENTS_QUEUE)
    assert run.calls[0].input == {"page_size": 5}


def test_all_ok_gives_an_ok_report_with_each_checks_latency_and_a_done_status():
    run = drive(connectivity_check, all_ok(), instance_id="connectivity-check-20261102T0900")
    report = ConnectivityReport.model_validate(run.output)
    assert report.ok
    assert report.instance_id == "connectivity-check-20261102T0900"
    assert [c.name for c in report.checks] == ["partner_center", "stripe", "storage"]
    assert [c.latency_ms for c in report.checks] == [12, 12, 12]
    assert report.started_at == T0
    assert report.finished_at > report.started_at
    assert run.custom_statuses == [
        {"state": "checking", "checks": ["partner_center", "stripe", "storage"]},
        {"state": "done", "ok": True, "failed": []},
    ]


def test_a_check_whose_retries_all_failed_is_an_unreachable_check_not_a_crash():
    outcomes = all_ok()
    outcomes["check_stripe"] = retries_spent(
        Failure(
            kind="transient",
            error_type="PaymentsUnavailable",
            code="transient",
            message="connection refused",
        )
    )
    run = drive(connectivity_check, outcomes)
    report = ConnectivityReport.model_validate(run.output)
    assert not report.ok
    stripe = report.checks[1]
    assert (stripe.name, stripe.ok, stripe.failure, stripe.latency_ms) == (
        "stripe",
        False,
        "unreachable",
        None,
    )
    # The failure's type and first line: the stack trace stays in the instance history.
    assert stripe.detail == "PaymentsUnavailable: connection refused"
    assert [c.ok for c in report.checks] == [True, False, True]  # the others still reported
    assert run.custom_statuses[-1] == {"state": "done", "ok": False, "failed": ["stripe"]}


def test_a_failure_the_host_reported_without_the_boundary_is_unreachable_with_its_first_line():
    outcomes = all_ok()
    outcomes["check_storage"] = ActivityFailed("the function timed out \n details")
    report = ConnectivityReport.model_validate(drive(connectivity_check, outcomes).output)
    assert report.checks[2].failure == "unreachable"
    assert report.checks[2].detail == (
        "StepFailed: Activity function 'check_storage' failed: the function timed out"
    )


def test_a_refused_check_is_reported_refused_with_the_time_it_took():
    outcomes = all_ok()
    outcomes["check_partner_center"] = refused(
        Failure(
            kind="permanent",
            error_type="AuthError",
            code="auth",
            message="Entra ID refused the token request: invalid_client",
        ),
        elapsed_ms=40,
    )
    report = ConnectivityReport.model_validate(drive(connectivity_check, outcomes).output)
    assert not report.ok
    assert report.checks[0].failure == "refused"
    assert report.checks[0].latency_ms == 40
    assert report.checks[0].detail == (
        "AuthError: Entra ID refused the token request: invalid_client"
    )


def test_every_check_failing_still_completes_with_a_report():
    outcomes = {a: ActivityFailed("boom") for a in ACTIVITIES}
    report = ConnectivityReport.model_validate(drive(connectivity_check, outcomes).output)
    assert [(c.ok, c.failure) for c in report.checks] == [(False, "unreachable")] * 3


@pytest.mark.parametrize(
    "envelope",
    [
        succeeded({"name": "storage", "ok": "maybe", "detail": "x"}),
        {"name": "storage", "ok": "maybe"},
        {"ok": False, "failure": {"kind": "sideways"}},
    ],
    ids=["bad value", "no envelope", "bad failure"],
)
def test_a_malformed_activity_result_fails_the_orchestration_loudly(envelope):
    outcomes = all_ok()
    outcomes["check_storage"] = envelope
    with pytest.raises(ValueError, match=r"ok|kind"):
        drive(connectivity_check, outcomes)


def test_the_checks_table_names_one_activity_per_system():
    assert {c.name for c in CHECKS} == {"partner_center", "stripe", "storage"}
    assert len({c.activity.name for c in CHECKS}) == len(CHECKS)
