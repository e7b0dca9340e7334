"""`/v1/invoices/{id}/mark_uncollectible` and `/v1/invoices/{id}/send`, as Stripe answers them.

https://docs.stripe.com/api/invoices/mark_uncollectible: a bad debt to write off; status
`uncollectible`, `status_transitions.marked_uncollectible_at`, event
`invoice.marked_uncollectible`, and (API 2026-09-30.endive) `status_details.uncollectible.reason`
while it stays uncollectible
(https://docs.stripe.com/changelog/endive/2026-09-30/invoice-uncollectible-status-detail).
https://docs.stripe.com/api/invoices/send: "Requests made in test-mode result in no emails
being sent, despite sending an invoice.sent event."
"""

import pytest
import stripe


@pytest.fixture
def customer(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _draft(sdk, customer_id, **params):
    inv = sdk.v1.invoices.create({"customer": customer_id, "currency": "eur", **params})
    sdk.v1.invoice_items.create(
        {"customer": customer_id, "invoice": inv.id, "amount": 5_000, "currency": "eur"}
    )
    return inv


def _open(sdk, customer_id, **params):
    return sdk.v1.invoices.finalize_invoice(_draft(sdk, customer_id, **params).id)


def test_an_open_invoice_marked_uncollectible(sdk, clock, customer):
    inv = _open(sdk, customer.id)
    marked = sdk.v1.invoices.mark_uncollectible(inv.id)
    assert marked.status == "uncollectible"
    assert marked.status_transitions.marked_uncollectible_at == int(clock.now().timestamp())
    assert marked.status_details.uncollectible.reason == "user_forgiven"
    assert (marked.auto_advance, marked.next_payment_attempt) == (False, None)
    event = sdk.v1.events.list({"type": "invoice.marked_uncollectible"}).data[0]
    assert event.data.object.id == inv.id and event.data.object.status == "uncollectible"


def test_an_uncollectible_invoice_can_still_be_paid_or_voided(sdk, customer):
    paid = sdk.v1.invoices.pay(sdk.v1.invoices.mark_uncollectible(_open(sdk, customer.id).id).id)
    assert paid.status == "paid"
    assert "status_details" not in paid.to_dict()  # present while uncollectible only
    voided = sdk.v1.invoices.void_invoice(
        sdk.v1.invoices.mark_uncollectible(_open(sdk, customer.id).id).id
    )
    assert voided.status == "void"


@pytest.mark.parametrize("state", ["draft", "paid", "void"])
def test_only_an_open_invoice_can_be_marked_uncollectible(sdk, customer, state):
    inv = _draft(sdk, customer.id)
    if state != "draft":
        sdk.v1.invoices.finalize_invoice(inv.id)
        if state == "paid":
            sdk.v1.invoices.pay(inv.id)
        else:
            sdk.v1.invoices.void_invoice(inv.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.invoices.mark_uncollectible(inv.id)
    assert info.value.http_status == 400


def test_sending_an_open_sent_invoice_emits_invoice_sent(sdk, customer):
    inv = _open(sdk, customer.id, collection_method="send_invoice", days_until_due=30)
    sent = sdk.v1.invoices.send_invoice(inv.id)
    assert sent.status == "open"
    assert sdk.v1.events.list({"type": "invoice.sent"}).data[0].data.object.id == inv.id


def test_sending_a_draft_finalizes_it_first(sdk, customer):
    draft = _draft(sdk, customer.id, collection_method="send_invoice", days_until_due=30)
    sent = sdk.v1.invoices.send_invoice(draft.id)
    assert sent.status == "open" and sent.status_transitions.finalized_at is not None
    types = [e.type for e in sdk.v1.events.list({"limit": 3}).data]
    assert types[:2] == ["invoice.sent", "invoice.finalized"]


def test_an_automatically_charged_invoice_cannot_be_sent(sdk, customer):
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.invoices.send_invoice(_open(sdk, customer.id).id)
    assert "send_invoice" in str(info.value)
