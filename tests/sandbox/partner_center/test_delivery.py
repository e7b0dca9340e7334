"""Webhook delivery as Partner Center does it: documented events only, signed POSTs,
ten attempts on the sandbox clock, duplicates and delays on demand."""

import base64
import json
import uuid
from datetime import timedelta

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.partner_center import rules
from sandbox.partner_center.cli import config_from_args
from sandbox.partner_center.delivery import MAX_ATTEMPTS
from tests.sandbox.partner_center.harness import START


def rid() -> str:
    return str(uuid.uuid4())


# The events of https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhooks and
# https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhook-events, row by row.
DOCUMENTED_EVENTS = {
    "test-created",
    "subscription-updated",
    "usagerecords-thresholdExceeded",
    "invoice-ready",
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
    "granular-admin-relationship-approved",
    "granular-admin-relationship-activated",
    "granular-admin-relationship-terminated",
    "granular-admin-relationship-expired",
    "granular-admin-access-assignment-created",
    "granular-admin-access-assignment-activated",
    "granular-admin-access-assignment-updated",
    "granular-admin-access-assignment-deleted",
    "reseller-relationship-accepted-by-customer",
    "indirect-reseller-relationship-accepted-by-customer",
    "dap-admin-relationship-approved",
    "dap-admin-relationship-terminated",
    "dap-admin-relationship-terminated-by-microsoft",
    "azure-fraud-event-detected",
    "new-commerce-migration-created",
    "new-commerce-migration-completed",
    "new-commerce-migration-failed",
    "new-commerce-migration-schedule-failed",
}


def test_the_event_list_is_microsofts_with_no_invented_events(pc):
    events = pc.client.webhook_events()
    assert len(events) == len(set(events))
    assert set(events) == DOCUMENTED_EVENTS
    for invented in ("subscription-renewed", "subscription-created", "customer-created"):
        assert invented not in events  # none documented


def test_a_quantity_change_is_delivered_as_a_signed_subscription_updated(pc, receiver):
    pc.client.register_webhook(receiver.url, ["subscription-updated"], request_id=rid())
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.client.set_quantity(customer_id, sid, 12, request_id=rid())
    receiver.wait_for(1)
    headers, body = receiver.deliveries[0]
    event = receiver.events()[0]
    assert event["EventName"] == "subscription-updated"
    assert event["ResourceUri"].endswith(
        f"/webhooks/v1/customers/{customer_id}/subscriptions/{sid}"
    )
    assert headers["x-ms-certificate-url"] == pc.sandbox.certificate_url
    der = pc.raw("GET", "/cert/pcnotifications-dispatch.microsoft.com.cer").content
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    signature = base64.b64decode(headers["Authorization"].removeprefix("Signature "))
    key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())


def test_a_failing_receiver_gets_ten_attempts_as_the_clock_advances_then_none(pc, receiver):
    pc.client.register_webhook(receiver.url, ["test-created"], request_id=rid())
    receiver.statuses = [500] * 20
    pc.client.send_test_event(request_id=rid())
    receiver.wait_for(1)
    pc.sandbox.process_now()
    assert len(receiver.deliveries) == 1  # the retry waits for the clock
    for _ in range(12):
        pc.advance(timedelta(hours=5))
    # partner-center-webhooks: 10 delivery attempts, then the offline queue
    assert len(receiver.deliveries) == MAX_ATTEMPTS
    (entry,) = pc.state()["outbox"]
    assert (entry["state"], entry["attempts"], entry["lastStatus"]) == ("offline", 10, 500)


def test_a_retry_that_succeeds_stops_the_attempts(pc, receiver):
    pc.client.register_webhook(receiver.url, ["test-created"], request_id=rid())
    receiver.statuses = [503]
    correlation_id = pc.client.send_test_event(request_id=rid())
    receiver.wait_for(1)
    pc.advance(timedelta(minutes=1))
    receiver.wait_for(2)
    pc.advance(timedelta(hours=10))
    assert len(receiver.deliveries) == 2
    status = pc.client.test_event_status(correlation_id)
    assert [r["responseCode"] for r in status.results] == ["503", "200"]


def test_duplicated_deliveries_carry_the_same_event(make_pc, receiver):
    pc = make_pc(webhook_duplicate_rate=1.0)
    pc.client.register_webhook(receiver.url, ["test-created"], request_id=rid())
    pc.client.send_test_event(request_id=rid())
    receiver.wait_for(2)
    assert receiver.deliveries[0][1] == receiver.deliveries[1][1]


def test_subscription_updated_on_renewal_can_arrive_48_hours_late(make_pc, receiver):
    pc = make_pc(subscription_updated_delay=timedelta(hours=48))
    pc.client.register_webhook(receiver.url, ["subscription-updated"], request_id=rid())
    customer_id = pc.customer()
    sid = pc.buy(customer_id, term="P1M")
    renewed_at = START.replace(month=4, day=2, hour=1)
    pc.advance_to(renewed_at + timedelta(hours=47))
    assert receiver.deliveries == []
    pc.advance(timedelta(hours=2))
    receiver.wait_for(1)
    event = receiver.events()[0]
    assert event["ResourceUri"].endswith(sid)
    assert event["ResourceChangeUtcDate"] == "2026-04-02T01:00:00Z"  # when renewal completed


def test_events_born_outside_the_api_can_be_simulated(pc, receiver):
    pc.client.register_webhook(
        receiver.url, ["reseller-relationship-accepted-by-customer"], request_id=rid()
    )
    customer_id = pc.customer(attest=False)
    pc.admin(
        "POST",
        "events",
        {"eventName": "reseller-relationship-accepted-by-customer", "customerId": customer_id},
    )
    receiver.wait_for(1)
    assert receiver.events()[0]["ResourceName"] == "customer"


def test_registration_rejects_unknown_events(pc, receiver):
    resp = pc.raw(
        "POST",
        "/webhooks/v1/registration",
        pc.app_token(),
        json={"WebhookUrl": receiver.url, "WebhookEvents": ["subscription-renewed"]},
        headers={"MS-RequestId": rid()},
    )
    assert resp.status_code == 400 and "subscription-renewed" in resp.json()["description"]


def test_a_gdap_event_carries_its_documented_resource_name(pc, receiver):
    event = "granular-admin-relationship-approved"
    pc.client.register_webhook(receiver.url, [event], request_id=rid())
    pc.admin("POST", "events", {"eventName": event, "customerId": pc.customer(attest=False)})
    receiver.wait_for(1)
    assert receiver.events()[0]["ResourceName"] == "GranularAdminRelationship"


@pytest.mark.parametrize(
    "event",
    # Raised only by what they describe: a subscription change, an invoice, a test request.
    ["subscription-updated", "invoice-ready", "test-created", "subscription-renewed"],
)
def test_the_admin_api_cannot_fake_an_event_the_api_itself_raises(pc, event):
    customer_id = pc.customer(attest=False)
    resp = requests.post(
        f"{pc.base_url}/_sandbox/events",
        json={"eventName": event, "customerId": customer_id},
        verify=str(pc.sandbox.ca_pem),
        timeout=30,
    )
    assert (resp.status_code, resp.json()["code"]) == (400, 800002)
    assert "eventName" in resp.json()["description"]


def test_a_malformed_admin_event_is_a_400_not_a_500(pc):
    resp = requests.post(
        f"{pc.base_url}/_sandbox/events",
        data=b"{not json",
        verify=str(pc.sandbox.ca_pem),
        timeout=30,
    )
    assert resp.status_code == 400


def test_a_change_made_through_the_api_names_its_audit_record_in_audit_uri(pc, receiver):
    """The payload's AuditUri points at the activity record of the change
    (https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhooks:
    "AuditUri": ".../v1/auditrecords/{AuditId}"), and the record is in the activity log."""
    pc.client.register_webhook(receiver.url, ["subscription-updated"], request_id=rid())
    customer_id = pc.customer()
    sid = pc.buy(customer_id)
    pc.client.set_quantity(customer_id, sid, 12, request_id=rid())
    receiver.wait_for(1)
    audit_uri = receiver.events()[0]["AuditUri"]
    assert audit_uri is not None and audit_uri.startswith(f"{pc.base_url}/v1/auditrecords/")
    record = pc.raw("GET", audit_uri.removeprefix(pc.base_url), pc.app_token()).json()
    assert (record["operationType"], record["customerId"]) == ("update_subscription", customer_id)
    assert json.loads(record["resourceNewValue"])["quantity"] == 12
    listed = pc.client.audit_records(START - timedelta(hours=1))
    assert record["id"] in [r["id"] for r in listed]


def test_a_change_time_makes_has_no_audit_record_and_a_null_audit_uri(pc, receiver):
    # The payload says AuditUri may be null: a renewal is no API call.
    pc.client.register_webhook(receiver.url, ["subscription-updated"], request_id=rid())
    customer_id = pc.customer()
    pc.buy(customer_id, term="P1M")
    pc.advance_to(START.replace(month=4, day=2, hour=2))
    receiver.wait_for(1)
    assert receiver.events()[0]["AuditUri"] is None


def _update_delays(pc, receiver) -> list[timedelta]:
    pc.client.register_webhook(receiver.url, ["subscription-updated"], request_id=rid())
    customer_id = pc.customer()
    sid = pc.buy(customer_id, quantity=1)
    for seats in range(2, 8):
        pc.client.set_quantity(customer_id, sid, seats, request_id=rid())
    return [
        rules.parse_iso(entry["dueAt"]) - rules.parse_iso(entry["event"]["ResourceChangeUtcDate"])
        for entry in pc.state()["outbox"]
    ]


def test_subscription_updated_can_be_delayed_at_random_up_to_48_hours(make_pc, receiver):
    """subscription-updated may arrive up to 48 hours after the change
    (https://learn.microsoft.com/en-us/partner-center/developer/partner-center-webhook-events).
    With the random option each event draws its own delay in 0-48 h, from the seed."""
    delays = _update_delays(make_pc(subscription_updated_delay_random=True), receiver)
    assert len(delays) == 6
    assert all(timedelta(0) <= d <= timedelta(hours=48) for d in delays)
    assert len(set(delays)) == 6
    again = _update_delays(make_pc(subscription_updated_delay_random=True), receiver)
    assert again == delays  # the same seed (7), the same delays


@pytest.mark.parametrize(
    ("argv", "fixed", "random_delay"),
    [
        ([], timedelta(0), False),
        (["--subscription-updated-delay-hours", "48"], timedelta(hours=48), False),
        (["--subscription-updated-delay-random", "--seed", "3"], timedelta(0), True),
    ],
)
def test_the_command_line_chooses_the_subscription_updated_delay(
    tmp_path, argv, fixed, random_delay
):
    config = config_from_args(["--data", str(tmp_path), *argv])
    assert config.subscription_updated_delay == fixed
    assert config.subscription_updated_delay_random is random_delay


def test_a_fixed_and_a_random_delay_exclude_each_other(tmp_path):
    with pytest.raises(SystemExit):
        config_from_args(
            [
                "--data",
                str(tmp_path),
                "--subscription-updated-delay-hours",
                "2",
                "--subscription-updated-delay-random",
            ]
        )
