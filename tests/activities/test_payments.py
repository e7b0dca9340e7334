"""The payment activities against a real Stripe sandbox (through the official SDK), called as
the Functions host calls them: a customer with a card, lines charged as one paid invoice, a
decline as a value, a sent invoice on invoice terms, credits and refunds, and every write
done once however often its step runs (https://docs.stripe.com/api/idempotent_requests)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from activities.payments import (
    CardOutcome,
    CardSetupLink,
    Charged,
    Credited,
    Refunded,
    StripeCustomerSet,
    attach_card,
    charge_lines,
    complete_card_setup,
    create_card_setup_link,
    credit_invoice,
    read_invoice,
    refund_payment,
    set_up_stripe_customer,
    void_invoice,
)
from shared.payments.models import Invoice
from tests.sandbox.stripe.harness import client as stripe_client

EUR = "EUR"


def ok(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["ok"], envelope
    value: dict[str, Any] = envelope["value"]
    return value


def line(reference: str, minor: int, description: str = "Microsoft 365 Business Basic"):
    return {
        "reference": reference,
        "description": description,
        "amount": {"amount_minor": minor, "currency": EUR},
        "period_start": "2026-01-05T00:00:00Z",
        "period_end": "2026-02-05T00:00:00Z",
    }


def customer_with(card: str, step: str = "order-1") -> str:
    made = StripeCustomerSet.model_validate(
        ok(
            set_up_stripe_customer.run(
                {"step_key": f"{step}/stripe-customer", "customer_id": "c-1", "name": "Fabrikam"}
            )
        )
    )
    attached = CardOutcome.model_validate(
        ok(
            attach_card.run(
                {
                    "step_key": f"{step}/card",
                    "stripe_customer_id": made.stripe_customer_id,
                    "payment_method_id": card,
                }
            )
        )
    )
    assert attached.ok, attached
    return made.stripe_customer_id


def charge(cus: str, lines: list[dict[str, Any]], step: str = "order-1/first-invoice", **extra):
    payload = {
        "step_key": step,
        "stripe_customer_id": cus,
        "currency": EUR,
        "lines": lines,
        "description": "Order order-1",
        "metadata": {"order_id": "order-1"},
        **extra,
    }
    return Charged.model_validate(ok(charge_lines.run(payload)))


def test_a_stripe_customer_carries_cspflows_customer_id_and_is_made_once(app_env, sandbox):
    payload = {"step_key": "order-1/stripe-customer", "customer_id": "c-42", "name": "Fabrikam"}
    first = ok(set_up_stripe_customer.run(payload))
    again = ok(set_up_stripe_customer.run(payload))
    assert first == again
    customers = stripe_client(sandbox.base_url).v1.customers.list({"limit": 100}).data
    assert [c.to_dict()["metadata"]["cspflow_customer_id"] for c in customers] == ["c-42"]


def test_a_card_is_saved_as_the_invoices_default(app_env, sandbox):
    cus = customer_with("pm_card_visa")
    saved = stripe_client(sandbox.base_url).v1.customers.retrieve(cus)
    assert saved.invoice_settings is not None
    assert saved.invoice_settings.default_payment_method is not None


def test_a_customer_made_with_a_card_has_it_saved_as_the_invoices_default_once(app_env, sandbox):
    payload = {"step_key": "order-1/stripe-customer", "customer_id": "c-7", "name": "Fabrikam",
               "payment_method_id": "pm_card_visa"}  # fmt: skip
    first = StripeCustomerSet.model_validate(ok(set_up_stripe_customer.run(payload)))
    again = StripeCustomerSet.model_validate(ok(set_up_stripe_customer.run(payload)))
    assert again == first and first.decline is None
    assert first.card is not None and first.card.is_default and first.card.last4 == "4242"
    stripe = stripe_client(sandbox.base_url)
    saved = stripe.v1.customers.retrieve(first.stripe_customer_id)
    assert saved.invoice_settings is not None
    assert saved.invoice_settings.default_payment_method == first.card.payment_method_id
    cards = stripe.v1.customers.payment_methods.list(first.stripe_customer_id).data
    assert [c.id for c in cards] == [first.card.payment_method_id]


def test_a_card_refused_with_the_new_customer_is_its_decline_and_the_customer_stays(
    app_env, sandbox
):
    made = StripeCustomerSet.model_validate(
        ok(
            set_up_stripe_customer.run(
                {"step_key": "o/s", "customer_id": "c", "name": "F",
                 "payment_method_id": "pm_card_chargeDeclinedInsufficientFunds"}
            )
        )
    )  # fmt: skip
    assert made.card is None and made.decline is not None
    assert made.decline.decline_code == "insufficient_funds"
    stripe = stripe_client(sandbox.base_url)
    assert stripe.v1.customers.retrieve(made.stripe_customer_id).id == made.stripe_customer_id
    assert stripe.v1.customers.payment_methods.list(made.stripe_customer_id).data == []


def test_a_card_stripe_refuses_to_save_comes_back_as_its_decline(app_env, sandbox):
    # Stripe's decline test cards cannot be attached (https://docs.stripe.com/testing#declined-payments)
    made = ok(set_up_stripe_customer.run({"step_key": "o/s", "customer_id": "c", "name": "F"}))
    refused = CardOutcome.model_validate(
        ok(
            attach_card.run(
                {
                    "step_key": "o/card",
                    "stripe_customer_id": made["stripe_customer_id"],
                    "payment_method_id": "pm_card_chargeDeclinedInsufficientFunds",
                }
            )
        )
    )
    assert not refused.ok and refused.decline is not None
    assert refused.decline.decline_code == "insufficient_funds"


def test_lines_are_invoiced_together_and_paid_once_however_often_the_step_runs(app_env, sandbox):
    cus = customer_with("pm_card_visa")
    lines = [line("CFQ7TTC0LH18:0001:P1Y:P1M", 720), line("CFQ7TTC0LDPB:0001:P1M:P1M", 1250)]
    first = charge(cus, lines)
    again = charge(cus, lines)
    assert first.status == "paid" and again == first
    assert first.invoice.total == 1970 and first.invoice.amount_paid == 1970
    stripe = stripe_client(sandbox.base_url)
    invoices = stripe.v1.invoices.list({"customer": cus}).data
    assert [(i.status, i.amount_paid) for i in invoices] == [("paid", 1970)]
    items = stripe.v1.invoices.line_items.list(invoices[0].id).data
    assert sorted(i.amount for i in items) == [720, 1250]


def test_a_declined_charge_is_a_value_with_stripes_codes_and_its_dunning_class(app_env, sandbox):
    # pm_card_chargeCustomerFail attaches, then every charge is declined
    # (https://docs.stripe.com/testing#declined-payments)
    cus = customer_with("pm_card_chargeCustomerFail")
    declined = charge(cus, [line("x", 500)])
    assert declined.status == "declined" and declined.invoice.status == "open"
    assert declined.decline is not None and declined.decline.code == "card_declined"
    assert declined.amount_paid.amount_minor == 0


def test_on_invoice_terms_the_invoice_is_sent_not_charged(app_env, sandbox):
    cus = customer_with("pm_card_visa")
    sent = charge(cus, [line("x", 900)], days_until_due=30)
    assert sent.status == "sent" and sent.invoice.status == "open"
    assert sent.invoice.amount_paid == 0 and sent.invoice.amount_due == 900
    assert sent.invoice.hosted_invoice_url


def test_lines_in_another_currency_than_the_charge_are_refused_naming_the_field(app_env):
    envelope = charge_lines.run(
        {
            "step_key": "o/first-invoice",
            "stripe_customer_id": "cus_X",
            "currency": "USD",
            "lines": [line("x", 100)],
            "description": "d",
        }
    )
    assert envelope["ok"] is False
    assert envelope["failure"]["code"] == "invalid_input"


def test_a_credit_note_refunds_part_of_a_paid_invoice_once(app_env, sandbox):
    cus = customer_with("pm_card_visa")
    paid = charge(cus, [line("a", 700), line("b", 300)])
    payload = {
        "step_key": "order-1/refund-unbought",
        "invoice_id": paid.invoice.id,
        "amount": {"amount_minor": 300, "currency": EUR},
        "description": "Not bought: b",
    }
    credited = Credited.model_validate(ok(credit_invoice.run(payload)))
    assert ok(credit_invoice.run(payload)) == credited.model_dump(mode="json")
    assert credited.amount.amount_minor == 300 and credited.type == "post_payment"
    assert len(credited.refund_ids) == 1
    refunds = stripe_client(sandbox.base_url).v1.refunds.list({"limit": 10}).data
    assert [r.amount for r in refunds] == [300]


def test_a_payment_is_refunded_in_full_once(app_env, sandbox):
    cus = customer_with("pm_card_visa")
    paid = charge(cus, [line("a", 1100)])
    assert paid.payment_intent_id
    payload = {"step_key": "order-1/refund", "payment_intent_id": paid.payment_intent_id}
    refunded = Refunded.model_validate(ok(refund_payment.run(payload)))
    ok(refund_payment.run(payload))
    assert refunded.amount.amount_minor == 1100
    refunds = stripe_client(sandbox.base_url).v1.refunds.list({"limit": 10}).data
    assert len(refunds) == 1


def test_an_invoice_is_read_as_stripe_has_it(app_env, sandbox):
    cus = customer_with("pm_card_visa")
    paid = charge(cus, [line("a", 400)])
    read = Invoice.model_validate(ok(read_invoice.run({"invoice_id": paid.invoice.id})))
    assert read.status == "paid" and read.amount_paid == 400


def test_a_card_setup_link_is_a_hosted_page_carrying_the_callers_metadata(app_env, sandbox):
    made = ok(set_up_stripe_customer.run({"step_key": "o/s", "customer_id": "c", "name": "F"}))
    link = CardSetupLink.model_validate(
        ok(
            create_card_setup_link.run(
                {
                    "step_key": "order-9/card-link",
                    "stripe_customer_id": made["stripe_customer_id"],
                    "success_url": "https://shop.example/thanks",
                    "metadata": {"order_id": "order-9"},
                }
            )
        )
    )
    session = stripe_client(sandbox.base_url).v1.checkout.sessions.retrieve(link.session_id)
    assert session.mode == "setup" and session.to_dict()["metadata"]["order_id"] == "order-9"
    assert link.url == session.url


@pytest.mark.parametrize("field", ["stripe_customer_id", "lines"])
def test_a_charge_without_its_customer_or_lines_is_refused_naming_the_field(app_env, field):
    payload: dict[str, Any] = {
        "step_key": "o/first-invoice",
        "stripe_customer_id": "cus_X",
        "currency": EUR,
        "lines": [line("x", 100)],
        "description": "d",
    }
    del payload[field]
    failure = charge_lines.run(payload)["failure"]
    assert failure["code"] == "invalid_input" and failure["field"] == field


def test_a_declined_invoice_is_voided_once(app_env, sandbox):
    cus = customer_with("pm_card_chargeCustomerFail")
    declined = charge(cus, [line("x", 500)])
    payload = {"step_key": "order-1/void-first-invoice", "invoice_id": declined.invoice.id}
    first = Invoice.model_validate(ok(void_invoice.run(payload)))
    again = Invoice.model_validate(ok(void_invoice.run(payload)))
    assert first.status == again.status == "void"


def test_a_sent_invoice_is_voided_once_and_one_paid_since_is_refused(app_env, sandbox):
    cus = customer_with("pm_card_visa")
    sent = charge(cus, [line("x", 900)], days_until_due=30)
    payload = {"step_key": "order-1/void-sent", "invoice_id": sent.invoice.id}
    first = Invoice.model_validate(ok(void_invoice.run(payload)))
    again = Invoice.model_validate(ok(void_invoice.run(payload)))
    assert first.status == again.status == "void" and first.amount_paid == 0
    # paid by bank transfer before the order failed: Stripe voids open invoices only
    other = charge(cus, [line("y", 700)], step="order-2/first-invoice", days_until_due=30)
    stripe_client(sandbox.base_url).v1.invoices.pay(other.invoice.id, {"paid_out_of_band": True})
    failure = void_invoice.run({"step_key": "order-2/void-sent", "invoice_id": other.invoice.id})
    assert failure["ok"] is False and failure["failure"]["kind"] == "permanent"


def test_the_card_a_setup_link_saved_becomes_the_default(app_env, sandbox):
    made = ok(set_up_stripe_customer.run({"step_key": "o/s", "customer_id": "c", "name": "F"}))
    cus = made["stripe_customer_id"]
    link = CardSetupLink.model_validate(
        ok(
            create_card_setup_link.run(
                {"step_key": "order-7/card-link", "stripe_customer_id": cus,
                 "success_url": "https://shop.example/thanks"}
            )
        )
    )  # fmt: skip
    payload = {"step_key": "order-7/card-default", "checkout_session_id": link.session_id}
    # before the customer saved a card, the answer is a refusal, not a retry
    assert complete_card_setup.run(payload)["failure"]["code"] in (
        "card_setup_not_done",
        "setup_intent_unexpected_state",
    )
    # the customer saves a card on the hosted page (the sandbox's form)
    saved = requests.post(link.url, data={"payment_method": "pm_card_visa"}, timeout=10)
    assert saved.status_code == 200, saved.text
    outcome = CardOutcome.model_validate(ok(complete_card_setup.run(payload)))
    assert outcome.card is not None and outcome.card.is_default
    customer = stripe_client(sandbox.base_url).v1.customers.retrieve(cus)
    assert customer.invoice_settings is not None
    assert customer.invoice_settings.default_payment_method == outcome.card.payment_method_id
