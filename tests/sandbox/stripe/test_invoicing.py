"""Invoices, credit notes, refunds and intents follow Stripe's state rules in the sandbox."""

import pytest
import requests
import stripe


@pytest.fixture
def customer(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _open(sdk, customer_id, amount=5_000):
    inv = sdk.v1.invoices.create({"customer": customer_id, "currency": "eur"})
    sdk.v1.invoice_items.create(
        {"customer": customer_id, "invoice": inv.id, "amount": amount, "currency": "eur"}
    )
    return sdk.v1.invoices.finalize_invoice(inv.id)


def test_pending_items_are_pulled_in_only_when_asked(sdk, customer):
    sdk.v1.invoice_items.create({"customer": customer.id, "amount": 700, "currency": "eur"})
    excluded = sdk.v1.invoices.create({"customer": customer.id, "currency": "eur"})
    assert excluded.total == 0
    included = sdk.v1.invoices.create(
        {"customer": customer.id, "currency": "eur", "pending_invoice_items_behavior": "include"}
    )
    assert included.total == 700
    assert sdk.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []


def test_a_finalized_invoice_takes_no_more_items(sdk, customer):
    inv = _open(sdk, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.invoice_items.create(
            {"customer": customer.id, "invoice": inv.id, "amount": 1, "currency": "eur"}
        )
    assert info.value.code == "invoice_not_editable"
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.invoices.finalize_invoice(inv.id)


def test_a_zero_amount_invoice_is_paid_on_finalization(sdk, customer):
    inv = sdk.v1.invoices.create({"customer": customer.id, "currency": "eur"})
    assert sdk.v1.invoices.finalize_invoice(inv.id).status == "paid"
    types = [e.type for e in sdk.v1.events.list({"limit": 5}).data]
    assert {"invoice.finalized", "invoice.paid"} <= set(types)


def test_a_send_invoice_is_due_days_after_finalization(sdk, customer):
    inv = sdk.v1.invoices.create(
        {
            "customer": customer.id,
            "currency": "eur",
            "collection_method": "send_invoice",
            "days_until_due": 14,
        }
    )
    sdk.v1.invoice_items.create(
        {"customer": customer.id, "invoice": inv.id, "amount": 100, "currency": "eur"}
    )
    final = sdk.v1.invoices.finalize_invoice(inv.id)
    assert final.due_date == final.status_transitions.finalized_at + 14 * 86400
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.invoices.create({"customer": customer.id, "currency": "eur", "days_until_due": 3})
    assert info.value.param == "days_until_due"


def test_a_paid_or_void_invoice_cannot_be_paid_again(sdk, customer):
    inv = _open(sdk, customer.id)
    sdk.v1.invoices.pay(inv.id)
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.invoices.pay(inv.id)
    other = _open(sdk, customer.id)
    sdk.v1.invoices.void_invoice(other.id)
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.invoices.pay(other.id)


def test_paying_without_any_payment_method_is_a_400(sdk):
    cus = sdk.v1.customers.create({"name": "No card"})
    inv = _open(sdk, cus.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.invoices.pay(inv.id)
    assert "no attached payment source" in str(info.value)


def test_paid_out_of_band_marks_the_invoice_paid_without_a_charge(sdk, customer):
    inv = _open(sdk, customer.id)
    assert sdk.v1.invoices.pay(inv.id, {"paid_out_of_band": True}).status == "paid"
    assert sdk.v1.charges.list({"customer": customer.id}).data == []


def test_a_paid_invoice_credit_note_must_split_its_amount(sdk, customer):
    inv = _open(sdk, customer.id)
    sdk.v1.invoices.pay(inv.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.credit_notes.create({"invoice": inv.id, "amount": 1_000, "refund_amount": 500})
    assert "must equal the credit note amount" in str(info.value)
    note = sdk.v1.credit_notes.create({"invoice": inv.id, "amount": 1_000, "credit_amount": 1_000})
    assert note.type == "post_payment"
    assert sdk.v1.customers.retrieve(customer.id).balance == -1_000


def test_a_refund_cannot_exceed_what_is_left_on_the_charge(sdk, customer):
    pi = sdk.v1.payment_intents.create(
        {
            "amount": 1_000,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    sdk.v1.refunds.create({"payment_intent": pi.id, "amount": 600})
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.refunds.create({"payment_intent": pi.id, "amount": 600})
    assert info.value.param == "amount"
    charge = sdk.v1.charges.retrieve(pi.latest_charge)
    assert charge.amount_refunded == 600 and charge.refunded is False


def test_off_session_needs_confirm_and_confirm_needs_a_payment_method(sdk, customer):
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.payment_intents.create({"amount": 1_000, "currency": "eur", "off_session": True})
    assert info.value.param == "off_session"
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.payment_intents.create({"amount": 1_000, "currency": "eur", "confirm": True})
    assert info.value.param == "payment_method"
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.payment_intents.create({"amount": 10, "currency": "eur"})
    assert info.value.code == "amount_too_small"


def test_a_setup_intent_saves_a_card_or_reports_the_decline(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    ok = sdk.v1.setup_intents.create(
        {"customer": cus.id, "payment_method": "pm_card_visa", "confirm": True}
    )
    assert ok.status == "succeeded"
    assert sdk.v1.payment_methods.retrieve(ok.payment_method).customer == cus.id
    with pytest.raises(stripe.CardError) as info:
        sdk.v1.setup_intents.create(
            {
                "customer": cus.id,
                "payment_method": "pm_card_chargeDeclinedLostCard",
                "confirm": True,
            }
        )
    assert info.value.code == "card_declined"


def test_detaching_the_default_card_clears_the_default(sdk, customer):
    default = sdk.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method
    sdk.v1.payment_methods.detach(default)
    assert sdk.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method is None


def test_the_hosted_page_of_a_draft_invoice_does_not_exist(sdk, sandbox, customer):
    inv = sdk.v1.invoices.create({"customer": customer.id, "currency": "eur"})
    assert requests.get(f"{sandbox.base_url}/i/{inv.id}", timeout=10).status_code == 404


def test_what_the_sandbox_does_not_simulate_is_refused_by_name(sdk, customer):
    inv = _open(sdk, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.invoices.pay(inv.id, {"forgive": True})
    assert info.value.param == "forgive"
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.payment_intents.create(
            {"amount": 1_000, "currency": "eur", "payment_method_types": ["sepa_debit"]}
        )
    assert info.value.param == "payment_method_types[0]"


ATTEMPT_COUNT = "https://docs.stripe.com/api/invoices/object#invoice_object-attempt_count"


def test_manual_attempts_after_the_first_leave_attempt_count_at_one(sdk):
    """ATTEMPT_COUNT: "Any payment attempt counts as the first attempt, and subsequently only
    automatic retries increment the attempt count. In other words, manual payment attempts
    after the first attempt do not affect the retry schedule." """
    cus = sdk.v1.customers.create({"name": "Fabrikam"})
    pm = sdk.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    inv = _open(sdk, cus.id)
    assert (inv.attempted, inv.attempt_count) == (False, 0)
    for _ in range(3):
        with pytest.raises(stripe.CardError):
            sdk.v1.invoices.pay(inv.id)
    declined = sdk.v1.invoices.retrieve(inv.id)
    assert (declined.attempted, declined.attempt_count) == (True, 1)
    assert len(sdk.v1.charges.list({"customer": cus.id}).data) == 3  # three real attempts
    paid = sdk.v1.invoices.pay(inv.id, {"payment_method": "pm_card_visa"})
    assert (paid.status, paid.attempt_count) == ("paid", 1)
