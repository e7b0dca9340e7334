"""The customer's invoice balance, applied when the next invoice is finalized, as Stripe does.

https://docs.stripe.com/billing/customer/balance: "The invoice balance automatically applies
toward the next invoice finalized to a customer"; a credit (negative) lowers what is due, a
debit (positive) raises it. https://docs.stripe.com/api/invoices/object#invoice_object-starting_balance
and #invoice_object-ending_balance record the balance before and after.
"""

import pytest


@pytest.fixture
def customer(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _draft(sdk, customer_id, amount=5_000, currency="eur"):
    inv = sdk.v1.invoices.create({"customer": customer_id, "currency": currency})
    sdk.v1.invoice_items.create(
        {"customer": customer_id, "invoice": inv.id, "amount": amount, "currency": currency}
    )
    return sdk.v1.invoices.retrieve(inv.id)


def _paid(sdk, customer_id, amount=5_000):
    inv = _draft(sdk, customer_id, amount)
    sdk.v1.invoices.finalize_invoice(inv.id)
    return sdk.v1.invoices.pay(inv.id)


def test_a_credit_note_credit_lowers_the_next_invoice_at_finalization(sdk, customer):
    paid = _paid(sdk, customer.id)
    note = sdk.v1.credit_notes.create({"invoice": paid.id, "amount": 1_000, "credit_amount": 1_000})
    assert sdk.v1.customers.retrieve(customer.id).balance == -1_000

    draft = _draft(sdk, customer.id)
    # "If the invoice has not been finalized yet, this will be the current customer balance."
    assert (draft.starting_balance, draft.ending_balance, draft.amount_due) == (-1_000, None, 5_000)
    final = sdk.v1.invoices.finalize_invoice(draft.id)
    assert (final.starting_balance, final.ending_balance) == (-1_000, 0)
    assert (final.total, final.amount_due, final.amount_remaining) == (5_000, 4_000, 4_000)
    assert sdk.v1.customers.retrieve(customer.id).balance == 0
    charged = sdk.v1.invoices.pay(final.id)
    assert charged.amount_paid == 4_000
    assert sdk.v1.charges.list({"customer": customer.id}).data[0].amount == 4_000

    ledger = sdk.v1.customers.balance_transactions.list(customer.id).data
    assert [(t.type, t.amount, t.ending_balance) for t in ledger] == [
        ("applied_to_invoice", 1_000, 0),
        ("credit_note", -1_000, -1_000),
    ]
    assert ledger[0].invoice == final.id
    assert ledger[1].credit_note == note.id == sdk.v1.credit_notes.retrieve(note.id).id
    assert note.customer_balance_transaction == ledger[1].id


def test_a_draft_shows_the_current_balance_until_it_is_finalized(sdk, customer):
    draft = _draft(sdk, customer.id)
    assert draft.starting_balance == 0
    sdk.v1.customers.balance_transactions.create(customer.id, {"amount": -250, "currency": "eur"})
    assert sdk.v1.invoices.retrieve(draft.id).starting_balance == -250


def test_a_credit_larger_than_the_invoice_pays_it_and_keeps_the_rest(sdk, customer):
    sdk.v1.customers.balance_transactions.create(
        customer.id, {"amount": -7_000, "currency": "eur", "description": "goodwill"}
    )
    final = sdk.v1.invoices.finalize_invoice(_draft(sdk, customer.id).id)
    assert (final.starting_balance, final.ending_balance, final.amount_due) == (-7_000, -2_000, 0)
    assert final.status == "paid"
    assert sdk.v1.customers.retrieve(customer.id).balance == -2_000
    assert sdk.v1.charges.list({"customer": customer.id}).data == []


def test_a_debit_on_the_balance_is_added_to_the_next_invoice(sdk, customer):
    sdk.v1.customers.balance_transactions.create(customer.id, {"amount": 300, "currency": "eur"})
    final = sdk.v1.invoices.finalize_invoice(_draft(sdk, customer.id).id)
    assert (final.starting_balance, final.ending_balance, final.amount_due) == (300, 0, 5_300)
    assert sdk.v1.customers.retrieve(customer.id).balance == 0


def test_voiding_the_invoice_gives_the_applied_credit_back(sdk, customer):
    sdk.v1.customers.balance_transactions.create(customer.id, {"amount": -800, "currency": "eur"})
    final = sdk.v1.invoices.finalize_invoice(_draft(sdk, customer.id).id)
    assert sdk.v1.customers.retrieve(customer.id).balance == 0
    sdk.v1.invoices.void_invoice(final.id)
    assert sdk.v1.customers.retrieve(customer.id).balance == -800
    assert (
        sdk.v1.customers.balance_transactions.list(customer.id).data[0].type
        == "unapplied_from_invoice"
    )


def test_the_balance_applies_only_to_invoices_in_its_currency(sdk, customer):
    sdk.v1.customers.balance_transactions.create(customer.id, {"amount": -800, "currency": "eur"})
    final = sdk.v1.invoices.finalize_invoice(_draft(sdk, customer.id, currency="usd").id)
    assert (final.starting_balance, final.ending_balance, final.amount_due) == (0, 0, 5_000)
    assert sdk.v1.customers.retrieve(customer.id).balance == -800
