"""Credit notes split into what lowers the invoice and what is given back, as Stripe does.

https://docs.stripe.com/api/credit_notes/create: a credit note "will first reduce the
invoice's amount_remaining (and amount_due), but not below zero. This amount is indicated by
the credit note's pre_payment_amount. The excess amount is indicated by post_payment_amount"
and is settled by refund_amount, credit_amount and out_of_band_amount. Lines are
`custom_line_item` or `invoice_line_item` (https://docs.stripe.com/api/credit_notes/create#create_credit_note-lines-type).
"""

import pytest
import stripe

CREATE = "https://docs.stripe.com/api/credit_notes/create"


@pytest.fixture
def customer(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _open(sdk, customer_id, *amounts):
    inv = sdk.v1.invoices.create({"customer": customer_id, "currency": "eur"})
    for amount in amounts or (5_000,):
        sdk.v1.invoice_items.create(
            {
                "customer": customer_id,
                "invoice": inv.id,
                "amount": amount,
                "currency": "eur",
                "description": f"line of {amount}",
            }
        )
    return sdk.v1.invoices.finalize_invoice(inv.id)


def test_an_invoice_line_item_line_credits_part_of_an_invoice_line(sdk, customer):
    inv = _open(sdk, customer.id, 3_000, 2_000)
    seats, support = inv.lines.data
    note = sdk.v1.credit_notes.create(
        {
            "invoice": inv.id,
            "lines": [
                {"type": "invoice_line_item", "invoice_line_item": seats.id, "amount": 1_200},
                {"type": "invoice_line_item", "invoice_line_item": support.id},
            ],
        }
    )
    assert note.amount == 3_200 and note.type == "pre_payment"
    first, second = note.lines.data
    assert (first.type, first.invoice_line_item, first.amount) == (
        "invoice_line_item",
        seats.id,
        1_200,
    )
    assert (first.description, first.unit_amount) == ("line of 3000", None)
    assert (second.invoice_line_item, second.amount) == (support.id, 2_000)
    assert sdk.v1.invoices.retrieve(inv.id).amount_remaining == 1_800
    # What is left on a line is all a later note may credit on it.
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.credit_notes.create(
            {
                "invoice": inv.id,
                "lines": [{"type": "invoice_line_item", "invoice_line_item": seats.id}],
            }
        )
    assert info.value.param == "lines[0][amount]"


def test_an_invoice_line_item_line_must_name_a_line_of_that_invoice(sdk, customer):
    inv = _open(sdk, customer.id)
    other = _open(sdk, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.credit_notes.create(
            {
                "invoice": inv.id,
                "lines": [
                    {"type": "invoice_line_item", "invoice_line_item": other.lines.data[0].id}
                ],
            }
        )
    assert info.value.param == "lines[0][invoice_line_item]"


def test_a_credit_beyond_what_an_open_invoice_asks_is_split_into_a_mixed_note(sdk, customer):
    """CREATE: the part above amount_remaining is post_payment_amount, settled here by credit
    to the customer's balance."""
    sdk.v1.customers.balance_transactions.create(customer.id, {"amount": -1_000, "currency": "eur"})
    inv = _open(sdk, customer.id)  # the credit took 1 000 off: 4 000 due
    assert inv.amount_remaining == 4_000
    note = sdk.v1.credit_notes.create({"invoice": inv.id, "amount": 5_000, "credit_amount": 1_000})
    assert (note.type, note.pre_payment_amount, note.post_payment_amount) == ("mixed", 4_000, 1_000)
    after = sdk.v1.invoices.retrieve(inv.id)
    assert (after.status, after.amount_remaining) == ("paid", 0)
    assert (after.pre_payment_credit_notes_amount, after.post_payment_credit_notes_amount) == (
        4_000,
        1_000,
    )
    assert sdk.v1.customers.retrieve(customer.id).balance == -1_000


def test_the_post_payment_part_must_be_settled_exactly(sdk, customer):
    sdk.v1.customers.balance_transactions.create(customer.id, {"amount": -1_000, "currency": "eur"})
    inv = _open(sdk, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.credit_notes.create({"invoice": inv.id, "amount": 5_000})
    assert "must equal" in str(info.value) and info.value.param == "refund_amount"
    with pytest.raises(stripe.InvalidRequestError) as info:  # nothing above amount_remaining
        sdk.v1.credit_notes.create({"invoice": inv.id, "amount": 1_000, "out_of_band_amount": 1})
    assert info.value.param == "credit_amount"


def test_no_more_than_the_invoice_total_can_be_credited(sdk, customer):
    inv = _open(sdk, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.credit_notes.create({"invoice": inv.id, "amount": 5_001, "out_of_band_amount": 1})
    assert info.value.param == "amount"


def test_a_pre_payment_note_lowers_the_amount_due_and_a_post_payment_one_gives_back(sdk, customer):
    inv = _open(sdk, customer.id)
    pre = sdk.v1.credit_notes.create({"invoice": inv.id, "amount": 1_000})
    assert (pre.type, pre.pre_payment_amount, pre.post_payment_amount) == ("pre_payment", 1_000, 0)
    paid = sdk.v1.invoices.pay(inv.id)
    assert paid.amount_paid == 4_000
    post = sdk.v1.credit_notes.create(
        {"invoice": inv.id, "amount": 1_500, "refund_amount": 1_000, "out_of_band_amount": 500}
    )
    assert (post.type, post.pre_payment_amount, post.post_payment_amount) == (
        "post_payment",
        0,
        1_500,
    )
    assert post.out_of_band_amount == 500 and post.refunds[0].amount_refunded == 1_000


def test_an_unknown_key_of_a_line_is_named_with_its_line(sdk, customer):
    inv = _open(sdk, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sdk.v1.credit_notes.create(
            {
                "invoice": inv.id,
                "lines": [{"type": "custom_line_item", "unit_amount": 1, "colour": "red"}],
            }
        )
    assert info.value.param == "lines[0][colour]"
