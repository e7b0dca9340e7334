"""Event intake's shared pieces: the business key of a Partner Center event, the queue
message of each source, and the queue a message goes to."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.intake import MAX_MESSAGE_JSON, partner_center_message, stripe_message
from shared.models.intake import (
    EventMessage,
    PartnerCenterNotice,
    partner_center_key,
    resource_path,
)
from shared.payments import to_domain

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        (
            "https://api.partnercenter.microsoft.com/webhooks/v1/customers/ABC/subscriptions/D",
            "customers/abc/subscriptions/d",
        ),
        ("https://api.partnercenter.microsoft.com/v1/invoices/G000000001", "invoices/g000000001"),
        (
            "https://127.0.0.1:7443/webhooks/v1/customers/abc/subscriptions/d",
            "customers/abc/subscriptions/d",
        ),
        ("/customers/abc/subscriptions/d/", "customers/abc/subscriptions/d"),
    ],
)
def test_a_resource_is_its_path_below_v1_in_lower_case(uri: str, path: str):
    assert resource_path(uri) == path


def test_a_webhook_and_an_audit_record_of_one_change_have_one_key():
    from_webhook = partner_center_key(
        "subscription-updated",
        "https://api.partnercenter.microsoft.com/webhooks/v1/customers/A/subscriptions/B",
        WHEN,
    )
    from_audit = partner_center_key(
        "Subscription-Updated",
        "https://127.0.0.1:7443/webhooks/v1/customers/a/subscriptions/b",
        WHEN.astimezone(timezone(timedelta(hours=2))),
    )
    assert (
        from_webhook
        == from_audit
        == ("subscription-updated|customers/a/subscriptions/b|2026-03-02T09:30:00.000000Z")
    )
    assert (
        partner_center_key(
            "subscription-updated", "/customers/a/subscriptions/b", WHEN + timedelta(microseconds=1)
        )
        != from_webhook
    )


def test_a_key_too_long_for_the_events_table_keeps_its_start_and_a_hash():
    uri = "/customers/" + "x" * 400
    key = partner_center_key("granular-admin-relationship-approved", uri, WHEN)
    assert len(key) == 255 and key.startswith("granular-admin-relationship-approved|customers/x")
    assert key != partner_center_key("granular-admin-relationship-approved", uri + "y", WHEN)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        partner_center_key("x", "/y", WHEN.replace(tzinfo=None))


def test_messages_round_trip_through_json():
    notice = PartnerCenterNotice(
        event_name="invoice-ready",
        resource_uri="https://api.partnercenter.microsoft.com/v1/invoices/G1",
        changed_at=WHEN,
    )
    message = partner_center_message(notice, via="audit_poll", received_at=WHEN)
    assert EventMessage.model_validate_json(message.model_dump_json()) == message
    assert message.key == "invoice-ready|invoices/g1|2026-03-02T09:30:00.000000Z"


def _paid(metadata: dict[str, str]) -> dict[str, object]:
    return {
        "id": "evt_9",
        "created": 1_700_000_000,
        "livemode": False,
        "type": "invoice.payment_succeeded",
        "data": {
            "object": {
                "id": "in_9",
                "object": "invoice",
                "customer": "cus_9",
                "status": "paid",
                "number": None,
                "currency": "eur",
                "total": 100,
                "amount_due": 100,
                "amount_paid": 100,
                "amount_remaining": 0,
                "attempted": True,
                "next_payment_attempt": None,
                "hosted_invoice_url": None,
                "created": 1_700_000_000,
                "metadata": metadata,
            }
        },
    }


def test_a_stripe_message_carries_the_domain_event_unless_it_would_not_fit():
    small = stripe_message(to_domain(_paid({})), via="webhook", received_at=WHEN)
    assert (small.key, small.type) == ("evt_9", "invoice.payment_succeeded")
    assert small.stripe is not None and small.stripe["kind"] == "invoice.payment_succeeded"
    big = stripe_message(
        to_domain(_paid({f"k{i}": "v" * 500 for i in range(100)})), via="webhook", received_at=WHEN
    )
    assert big.stripe is None and big.key == "evt_9"
    assert len(small.model_dump_json()) <= MAX_MESSAGE_JSON
