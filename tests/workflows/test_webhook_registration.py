"""The register_partner_center_webhook orchestrator, driven as a generator: register, then
read the test event's delivery on a durable timer until it settles."""

from __future__ import annotations

from shared.errors import Failure
from shared.models.webhook_registration import WebhookRegistrationReport
from tests.orchestrator_driver import drive, refused, retries_spent, succeeded
from workflows.webhook_registration import POLL, POLLS, register_partner_center_webhook

URL = "https://func-cspflow.azurewebsites.net/api/webhooks/partner-center"
REGISTERED = {
    "action": "created",
    "webhook_url": URL,
    "events": ["subscription-updated", "invoice-ready", "test-created"],
    "correlation_id": "corr-1",
}


def status(state: str, code: str | None = None) -> dict[str, object]:
    results = [{"responseCode": code, "responseMessage": "OK"}] if code else []
    return succeeded({"correlation_id": "corr-1", "status": state, "results": results})


def run(read_outcomes: list[object] | object, register_outcome: object | None = None):
    return drive(
        register_partner_center_webhook,
        {
            "register_webhook": register_outcome or succeeded(REGISTERED),
            "read_test_event": read_outcomes,
        },
        instance_id="webhook-registration-20261102T0900",
        input={"callback_url": URL},
    )


def test_registers_with_the_step_key_then_polls_until_the_test_event_is_delivered():
    ran = run([status("pending"), status("pending"), status("completed", "200")])
    report = WebhookRegistrationReport.model_validate(ran.output)
    assert report.ok and report.action == "created" and report.webhook_url == URL
    assert report.test_event is not None and report.test_event.results[0]["responseCode"] == "200"
    register, *reads = ran.calls
    assert register.input == {
        "step_key": "webhook-registration-20261102T0900/register",
        "callback_url": URL,
    }
    assert [c.name for c in reads] == ["read_test_event"] * 3
    assert len(ran.timers) == 2
    assert ran.timers[1] - ran.timers[0] >= POLL
    assert [s["state"] for s in ran.custom_statuses] == ["registering", "testing", "done"]


def test_a_failed_delivery_is_reported_not_ok_with_the_answer_partner_center_got():
    report = WebhookRegistrationReport.model_validate(run(status("failed", "401")).output)
    assert not report.ok
    assert report.test_event is not None and report.test_event.status == "failed"
    assert report.problem is not None and "not delivered" in report.problem


def test_a_test_event_never_settled_stops_after_the_last_poll():
    ran = run(status("pending"))
    report = WebhookRegistrationReport.model_validate(ran.output)
    assert not report.ok and report.test_event is not None
    assert len(ran.calls) == 1 + POLLS and len(ran.timers) == POLLS - 1


def test_a_refused_registration_is_reported_with_partner_centers_reason():
    failure = Failure(
        kind="permanent", error_type="BusinessError", code="800002", message="bad url"
    )
    ran = run(status("completed"), register_outcome=refused(failure))
    report = WebhookRegistrationReport.model_validate(ran.output)
    assert not report.ok and report.problem == "BusinessError: bad url"
    assert [c.name for c in ran.calls] == ["register_webhook"]


def test_a_registration_whose_retries_ran_out_is_reported():
    failure = Failure(
        kind="transient", error_type="RetryableError", code="transient", message="503"
    )
    report = WebhookRegistrationReport.model_validate(
        run(status("completed"), register_outcome=retries_spent(failure)).output
    )
    assert not report.ok and "503" in (report.problem or "")
