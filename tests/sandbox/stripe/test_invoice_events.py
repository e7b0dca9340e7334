"""`invoice.will_be_due`, `invoice.overdue` and `invoice.updated`, emitted when Stripe would.

https://docs.stripe.com/api/events/types: `invoice.will_be_due` "Occurs X number of days
before an invoice becomes due" and `invoice.overdue` "X number of days after an invoice
becomes due", X set in Automations (here `BillingSchedule.will_be_due_before` and
`overdue_after`); `invoice.updated` "Occurs whenever an invoice changes (e.g., the invoice
amount)", with the old values in `data.previous_attributes`
(https://docs.stripe.com/api/events/object#event_object-data-previous_attributes).
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe

from sandbox.stripe.schedule import BillingSchedule

from .harness import client, running_sandbox, wait_for

DAY = 86400


@pytest.fixture
def customer(sdk):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    pm = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _sent(sdk, customer_id, days=14):
    inv = sdk.v1.invoices.create(
        {
            "customer": customer_id,
            "currency": "eur",
            "collection_method": "send_invoice",
            "days_until_due": days,
        }
    )
    sdk.v1.invoice_items.create(
        {"customer": customer_id, "invoice": inv.id, "amount": 5_000, "currency": "eur"}
    )
    return sdk.v1.invoices.finalize_invoice(inv.id)


def _at(clock, unix):
    clock.set(datetime.fromtimestamp(unix, UTC))


def _events(sdk, kind):
    return sdk.v1.events.list({"type": kind}).data


def test_a_sent_invoice_will_be_due_a_week_before_and_is_overdue_after_its_due_date(
    sdk, clock, customer
):
    inv = _sent(sdk, customer.id)
    _at(clock, inv.due_date - 7 * DAY - 60)
    time.sleep(0.3)
    assert _events(sdk, "invoice.will_be_due") == []
    _at(clock, inv.due_date - 7 * DAY)
    wait_for(lambda: len(_events(sdk, "invoice.will_be_due")) == 1)
    assert _events(sdk, "invoice.will_be_due")[0].data.object.id == inv.id
    assert _events(sdk, "invoice.overdue") == []
    _at(clock, inv.due_date)
    wait_for(lambda: len(_events(sdk, "invoice.overdue")) == 1)
    _at(clock, inv.due_date + 3 * DAY)
    time.sleep(0.3)  # once each, however long the invoice stays unpaid
    assert len(_events(sdk, "invoice.overdue")) == len(_events(sdk, "invoice.will_be_due")) == 1
    assert sdk.v1.invoices.retrieve(inv.id).status == "open"


def test_a_paid_invoice_is_never_overdue(sdk, clock, customer):
    inv = _sent(sdk, customer.id)
    sdk.v1.invoices.pay(inv.id)
    _at(clock, inv.due_date + DAY)
    time.sleep(0.3)
    assert _events(sdk, "invoice.overdue") == []


def test_an_invoice_due_sooner_than_the_notice_gets_no_will_be_due(sdk, clock, customer):
    inv = _sent(sdk, customer.id, days=3)
    _at(clock, inv.due_date)
    wait_for(lambda: len(_events(sdk, "invoice.overdue")) == 1)
    assert _events(sdk, "invoice.will_be_due") == []


def test_the_reminder_offsets_are_configurable(tmp_path, clock):
    schedule = BillingSchedule(
        will_be_due_before=timedelta(days=2), overdue_after=timedelta(days=5)
    )
    with running_sandbox(tmp_path, clock, schedule=schedule) as sb:
        sdk = client(sb.base_url)
        cus = sdk.v1.customers.create({"name": "Contoso"})
        inv = _sent(sdk, cus.id)
        _at(clock, inv.due_date - 2 * DAY)
        wait_for(lambda: len(_events(sdk, "invoice.will_be_due")) == 1)
        _at(clock, inv.due_date + 4 * DAY)
        time.sleep(0.3)
        assert _events(sdk, "invoice.overdue") == []
        _at(clock, inv.due_date + 5 * DAY)
        wait_for(lambda: len(_events(sdk, "invoice.overdue")) == 1)


def test_an_update_emits_invoice_updated_with_the_old_values(sdk, customer):
    inv = _sent(sdk, customer.id)
    sdk.v1.invoices.update(inv.id, {"metadata": {"order": "o-1"}})
    event = _events(sdk, "invoice.updated")[0]
    assert event.data.object.metadata.order == "o-1"
    assert event.data.previous_attributes.metadata.to_dict() == {}
    seen = len(_events(sdk, "invoice.updated"))
    sdk.v1.invoices.update(inv.id, {"metadata": {"order": "o-1"}})  # no change, no event
    assert len(_events(sdk, "invoice.updated")) == seen


def test_a_line_added_to_a_draft_emits_invoice_updated_with_the_old_total(sdk, customer):
    draft = sdk.v1.invoices.create({"customer": customer.id, "currency": "eur"})
    sdk.v1.invoice_items.create(
        {"customer": customer.id, "invoice": draft.id, "amount": 900, "currency": "eur"}
    )
    event = _events(sdk, "invoice.updated")[0]
    assert (event.data.object.total, event.data.previous_attributes.total) == (900, 0)


def test_a_credit_note_on_an_open_invoice_emits_invoice_updated(sdk, customer):
    inv = _sent(sdk, customer.id)
    sdk.v1.credit_notes.create({"invoice": inv.id, "amount": 1_000})
    event = _events(sdk, "invoice.updated")[0]
    assert event.data.object.amount_due == 4_000
    assert event.data.previous_attributes.amount_due == 5_000


def test_a_failed_payment_emits_invoice_updated_with_the_attempt(sdk):
    cus = sdk.v1.customers.create({"name": "Fabrikam"})
    pm = sdk.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    inv = sdk.v1.invoices.create({"customer": cus.id, "currency": "eur"})
    sdk.v1.invoice_items.create(
        {"customer": cus.id, "invoice": inv.id, "amount": 700, "currency": "eur"}
    )
    sdk.v1.invoices.finalize_invoice(inv.id)
    with pytest.raises(stripe.CardError):
        sdk.v1.invoices.pay(inv.id)
    event = _events(sdk, "invoice.updated")[0]
    assert event.data.previous_attributes.attempt_count == 0
    assert event.data.object.attempt_count == 1
