"""Webhook verification with the SDK's construct_event, and the mapping to domain events."""

import json
import time
import types
from datetime import timedelta
from typing import Any

import pytest
import requests
import stripe
from pydantic import SecretStr

from shared.clock import ManualClock
from shared.config import Settings
from shared.payments import (
    CardExpiring,
    CardUpdateCompleted,
    ChargeLine,
    DisputeCreated,
    InvoicePaid,
    InvoicePaymentActionRequired,
    InvoicePaymentFailed,
    MalformedEvent,
    OtherEvent,
    PaymentMethodAttached,
    PaymentMethodUpdated,
    StripePayments,
    WebhookRejected,
    WebhookVerifier,
    to_domain,
)
from tests.sandbox.stripe.harness import (
    API_KEY,
    T0,
    WEBHOOK_SECRET,
    client,
    running_sandbox,
    wait_for,
    webhook_endpoint,
)

OLD_SECRET = "whsec_old_secret_being_rotated_out"


def _sign(payload, secret=WEBHOOK_SECRET, at=None):
    return stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=at or int(time.time())
    )


# Every event type cspflow maps, produced by the sandbox and delivered over HTTP.
DELIVERED_TYPES = {
    "invoice.payment_failed",
    "invoice.paid",
    "invoice.payment_action_required",
    "payment_method.automatically_updated",
    "charge.dispute.created",
    "checkout.session.completed",
}


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """Real deliveries from the sandbox: {event type: (body, signature)} (the first of each)
    and the ids the flows created, to check the mapping against."""
    clock = ManualClock(T0)
    with (
        webhook_endpoint() as endpoint,
        running_sandbox(tmp_path_factory.mktemp("wh"), clock, webhook_url=endpoint.url) as sb,
    ):
        payments = StripePayments(API_KEY, sb.base_url)
        cus = payments.create_customer("s:c", partner_customer_id="c1", name="Contoso")
        payments.attach_payment_method("s:pm", cus.id, "pm_card_chargeCustomerFail")
        inv = payments.create_invoice("s:i", cus.id, currency="EUR")
        payments.add_invoice_item(
            "s:i", cus.id, invoice_id=inv.id, amount=5_000, currency="EUR", description="x"
        )
        payments.finalize_invoice("s:i", inv.id)
        payments.pay_invoice("s:p1", inv.id)
        payments.attach_payment_method("s:pm2", cus.id, "pm_card_visa")
        payments.pay_invoice("s:p2", inv.id)
        # 3-D Secure needed off session: invoice.payment_action_required
        cus3ds = payments.create_customer("s:c2", partner_customer_id="c2", name="Fabrikam")
        payments.attach_payment_method("s:pm3", cus3ds.id, "pm_card_authenticationRequired")
        action = payments.charge_now(
            "s:3ds", cus3ds.id, currency="EUR", lines=[_line(700)], description="x"
        )
        # the cardholder disputes a charge: charge.dispute.created
        disputer = payments.create_customer("s:c3", partner_customer_id="c3", name="Litware")
        payments.attach_payment_method("s:pm4", disputer.id, "pm_card_createDispute")
        disputed = payments.charge_now(
            "s:dp", disputer.id, currency="EUR", lines=[_line(900)], description="x"
        )
        # the card network reissues a card: payment_method.automatically_updated
        reissued = payments.attach_payment_method(
            "s:pm5", cus.id, "pm_card_sandbox_expires_2026_02", make_default=False
        ).card
        assert reissued is not None
        requests.post(
            f"{sb.base_url}/_sandbox/payment_methods/{reissued.payment_method_id}/automatic_update",
            data={"exp_month": "2", "exp_year": "2030"},
            timeout=10,
        ).raise_for_status()
        # the customer saves a new card on the card update page: checkout.session.completed
        link = payments.card_update_link(
            "s:link", cus.id, success_url="https://portal.example/ok", metadata={"case": "7"}
        )
        requests.post(link.url, data={"payment_method": "pm_card_mastercard"}, timeout=10)

        def seen() -> set[str]:
            return {json.loads(r.body)["type"] for r in endpoint.received}

        wait_for(lambda: seen() >= DELIVERED_TYPES)
        first: dict[str, Any] = {}
        for r in endpoint.received:
            first.setdefault(json.loads(r.body)["type"], (r.body, r.signature))
        first["ids"] = {
            "invoice": inv.id,
            "customer": cus.id,
            "action_invoice": action.invoice.id,
            "dispute_charge": client(sb.base_url)
            .v1.charges.list({"customer": disputer.id})
            .data[0]
            .id,
            "dispute_amount": disputed.invoice.total,
            "reissued": reissued.payment_method_id,
            "session": link.session_id,
        }
        yield first


def _line(amount):
    return ChargeLine(amount=amount, description="x")


def test_a_genuine_delivery_verifies_and_maps_to_its_domain_event(delivered):
    body, signature = delivered["invoice.payment_failed"]
    event = WebhookVerifier([WEBHOOK_SECRET]).verify(body, signature)
    assert isinstance(event, InvoicePaymentFailed)
    assert event.invoice.attempted and event.invoice.amount_due == 5_000
    assert event.invoice.currency == "EUR" and event.invoice.status == "open"
    assert event.invoice.next_payment_attempt is None
    paid = WebhookVerifier([WEBHOOK_SECRET]).verify(*delivered["invoice.paid"])
    assert isinstance(paid, InvoicePaid) and paid.invoice.status == "paid"


def test_during_rotation_any_configured_secret_verifies(delivered):
    body, signature = delivered["invoice.paid"]
    assert isinstance(
        WebhookVerifier([OLD_SECRET, WEBHOOK_SECRET]).verify(body, signature), InvoicePaid
    )


def test_a_delivery_signed_with_another_secret_is_rejected(delivered):
    body, signature = delivered["invoice.paid"]
    with pytest.raises(WebhookRejected):
        WebhookVerifier([OLD_SECRET]).verify(body, signature)


def test_a_forged_body_is_rejected(delivered):
    body, signature = delivered["invoice.paid"]
    forged = body.replace(b'"amount_paid": 5000', b'"amount_paid": 1')
    assert forged != body
    with pytest.raises(WebhookRejected):
        WebhookVerifier([WEBHOOK_SECRET]).verify(forged, signature)


def test_every_mapped_event_the_sandbox_delivers_verifies_and_maps(delivered):
    ids = delivered["ids"]
    verify = WebhookVerifier([WEBHOOK_SECRET]).verify
    failed = verify(*delivered["invoice.payment_failed"])
    assert isinstance(failed, InvoicePaymentFailed) and failed.invoice.id == ids["invoice"]
    action = verify(*delivered["invoice.payment_action_required"])
    assert isinstance(action, InvoicePaymentActionRequired)
    assert action.invoice.id == ids["action_invoice"] and action.invoice.status == "open"
    updated = verify(*delivered["payment_method.automatically_updated"])
    assert isinstance(updated, PaymentMethodUpdated)
    assert (updated.payment_method_id, updated.customer_id) == (ids["reissued"], ids["customer"])
    assert (updated.exp_month, updated.exp_year, updated.last4) == (2, 2030, "4242")
    dispute = verify(*delivered["charge.dispute.created"])
    assert isinstance(dispute, DisputeCreated)
    assert (dispute.charge_id, dispute.amount, dispute.currency, dispute.reason) == (
        ids["dispute_charge"],
        ids["dispute_amount"],
        "EUR",
        "fraudulent",
    )
    assert dispute.dispute_id.startswith("dp_")
    completed = verify(*delivered["checkout.session.completed"])
    assert isinstance(completed, CardUpdateCompleted)
    assert (completed.session_id, completed.customer_id) == (ids["session"], ids["customer"])
    assert completed.setup_intent_id.startswith("seti_") and completed.metadata == {"case": "7"}


@pytest.mark.parametrize(("late_s", "accepted"), [(240, True), (301, False), (86_400, False)])
def test_a_genuine_delivery_replayed_later_is_accepted_only_within_the_tolerance(
    delivered, monkeypatch, late_s, accepted
):
    body, signature = delivered["invoice.paid"]
    signed_at = int(signature.split(",")[0].removeprefix("t="))
    # construct_event reads the wall clock through its module's `time`: the replay happens
    # `late_s` seconds after the signature.
    monkeypatch.setattr(
        stripe._webhook, "time", types.SimpleNamespace(time=lambda: signed_at + late_s)
    )
    verifier = WebhookVerifier([WEBHOOK_SECRET], tolerance_s=300)
    if accepted:
        assert isinstance(verifier.verify(body, signature), InvoicePaid)
    else:
        with pytest.raises(WebhookRejected):
            verifier.verify(body, signature)


def test_a_replay_outside_the_tolerance_is_rejected():
    payload = json.dumps(_event("invoice.paid", _invoice()))
    stale = _sign(payload, at=int(time.time()) - 301)
    with pytest.raises(WebhookRejected):
        WebhookVerifier([WEBHOOK_SECRET], tolerance_s=300).verify(payload, stale)
    fresh = _sign(payload, at=int(time.time()) - 240)
    assert isinstance(
        WebhookVerifier([WEBHOOK_SECRET], tolerance_s=300).verify(payload, fresh), InvoicePaid
    )


def test_a_missing_or_garbled_signature_header_is_rejected():
    payload = json.dumps(_event("invoice.paid", _invoice()))
    for header in (None, "", "garbage", "t=1", f"t={int(time.time())},v0=abc"):
        with pytest.raises(WebhookRejected):
            WebhookVerifier([WEBHOOK_SECRET]).verify(payload, header)


def test_a_signed_payload_that_is_not_an_event_is_rejected():
    with pytest.raises(WebhookRejected):
        WebhookVerifier([WEBHOOK_SECRET]).verify("not json", _sign("not json"))
    odd = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "invoice.paid",
            "created": 1,
            "livemode": False,
            "data": {"object": {}},
        }
    )
    with pytest.raises(WebhookRejected):
        WebhookVerifier([WEBHOOK_SECRET]).verify(odd, _sign(odd))


def test_the_verifier_is_built_from_settings_with_rotation(monkeypatch):
    monkeypatch.setenv("CSPFLOW_STRIPE_WEBHOOK_SECRETS", f"{OLD_SECRET},{WEBHOOK_SECRET}")
    monkeypatch.setenv("CSPFLOW_STRIPE_WEBHOOK_TOLERANCE_S", "60")
    settings = Settings()
    payload = json.dumps(_event("invoice.paid", _invoice()))
    assert isinstance(
        WebhookVerifier.from_settings(settings).verify(payload, _sign(payload)), InvoicePaid
    )
    assert settings.stripe_webhook_secrets[0] == SecretStr(OLD_SECRET)


def test_no_secrets_is_a_configuration_error():
    with pytest.raises(ValueError):
        WebhookVerifier([])


# mapping, one row per event type cspflow acts on (types from Stripe's event list)
def _invoice(**over):
    base = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_1",
        "status": "open",
        "number": "A-0001",
        "currency": "eur",
        "total": 100,
        "amount_due": 100,
        "amount_paid": 0,
        "amount_remaining": 100,
        "attempted": True,
        "next_payment_attempt": 1767600000,
        "hosted_invoice_url": "https://x/i/in_1",
        "created": 1767500000,
        "metadata": {},
    }
    return base | over


def _event(kind, obj):
    return {
        "id": "evt_1",
        "object": "event",
        "type": kind,
        "created": 1767600000,
        "livemode": False,
        "data": {"object": obj},
    }


CARD_PM = {
    "id": "pm_1",
    "object": "payment_method",
    "customer": "cus_1",
    "card": {"brand": "visa", "last4": "4242", "exp_month": 3, "exp_year": 2026},
}
CARD_SOURCE = {
    "id": "card_1",
    "object": "card",
    "customer": "cus_1",
    "brand": "visa",
    "last4": "4242",
    "exp_month": 3,
    "exp_year": 2026,
}
SETUP_SESSION = {
    "id": "cs_test_1",
    "object": "checkout.session",
    "mode": "setup",
    "customer": "cus_1",
    "setup_intent": "seti_1",
    "metadata": {"case": "7"},
}
DISPUTE = {
    "id": "dp_1",
    "object": "dispute",
    "charge": "ch_1",
    "amount": 100,
    "currency": "eur",
    "reason": "fraudulent",
}


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        ("invoice.payment_failed", _invoice(), InvoicePaymentFailed),
        ("invoice.paid", _invoice(status="paid"), InvoicePaid),
        ("invoice.payment_action_required", _invoice(), InvoicePaymentActionRequired),
        ("customer.source.expiring", CARD_PM, CardExpiring),
        ("customer.source.expiring", CARD_SOURCE, CardExpiring),
        ("payment_method.automatically_updated", CARD_PM, PaymentMethodUpdated),
        ("charge.dispute.created", DISPUTE, DisputeCreated),
        ("checkout.session.completed", SETUP_SESSION, CardUpdateCompleted),
        ("checkout.session.completed", {**SETUP_SESSION, "mode": "payment"}, OtherEvent),
        ("customer.created", {"id": "cus_1", "object": "customer"}, OtherEvent),
    ],
)
def test_each_event_type_maps_to_its_domain_event(kind, obj, expected):
    payload = json.dumps(_event(kind, obj))
    event = WebhookVerifier([WEBHOOK_SECRET]).verify(payload, _sign(payload))
    assert type(event) is expected
    assert event.event_id == "evt_1"
    assert event.created.utcoffset() == timedelta(0)


def test_card_expiring_carries_the_card_and_customer():
    payload = json.dumps(_event("customer.source.expiring", CARD_SOURCE))
    event = WebhookVerifier([WEBHOOK_SECRET]).verify(payload, _sign(payload))
    assert isinstance(event, CardExpiring)
    assert (event.customer_id, event.last4, event.exp_month, event.exp_year) == (
        "cus_1",
        "4242",
        3,
        2026,
    )


def test_domain_events_survive_the_json_round_trip_of_a_queue(delivered):
    from shared.payments.events import PAYMENT_EVENT

    event = WebhookVerifier([WEBHOOK_SECRET]).verify(*delivered["invoice.payment_failed"])
    assert PAYMENT_EVENT.validate_python(event.model_dump(mode="json")) == event


def _card_event(kind: str) -> dict[str, Any]:
    return {
        "id": "evt_pm",
        "created": 1_700_000_000,
        "livemode": False,
        "type": kind,
        "data": {
            "object": {
                "id": "pm_1",
                "object": "payment_method",
                "customer": "cus_1",
                "card": {"brand": "visa", "last4": "4242", "exp_month": 4, "exp_year": 2031},
            }
        },
    }


def test_a_card_saved_to_a_customer_maps_to_payment_method_attached():
    event = to_domain(_card_event("payment_method.attached"))
    assert isinstance(event, PaymentMethodAttached)
    assert (event.customer_id, event.payment_method_id, event.last4) == ("cus_1", "pm_1", "4242")


def test_a_succeeded_payment_maps_to_the_paid_invoice_under_its_own_type(delivered):
    body, _ = delivered["invoice.paid"]
    raw = json.loads(body)
    raw["type"] = "invoice.payment_succeeded"
    event = to_domain(raw)
    assert isinstance(event, InvoicePaid) and event.kind == "invoice.payment_succeeded"


def test_a_genuinely_signed_body_that_is_no_event_is_malformed_not_forged():
    verify = WebhookVerifier([WEBHOOK_SECRET]).verify
    with pytest.raises(MalformedEvent):
        verify(b"not json", _sign("not json"))
    shapeless = json.dumps(
        {
            "id": "evt_x",
            "type": "invoice.paid",
            "created": 1,
            "livemode": False,
            "data": {"object": {}},
        }
    )
    with pytest.raises(MalformedEvent):
        verify(shapeless, _sign(shapeless))
    with pytest.raises(WebhookRejected) as forged:
        verify(b"not json", _sign("other"))
    assert not isinstance(forged.value, MalformedEvent)
