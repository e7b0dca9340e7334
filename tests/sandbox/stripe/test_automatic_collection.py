"""`auto_advance=true`: Stripe finalizes, charges and retries by itself, on the sandbox clock.

https://docs.stripe.com/invoicing/integration/automatic-advancement-collection: "When you turn
on automatic collection, Stripe does everything to drive the invoice towards payment—including
automatically finalizing draft invoices after one hour." The first attempt comes an hour after
finalizing (`next_payment_attempt`), then Smart-Retries-like retries ("8 tries within 2
weeks", https://docs.stripe.com/payments/off-session-payments/smart-retries), which skip a
card that gave a hard decline until there is a new payment method
(https://docs.stripe.com/billing/revenue-recovery/smart-retries#non-retryable-decline-codes).
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe

from sandbox.stripe.schedule import BillingSchedule

from .harness import client, running_sandbox, wait_for

HOUR = 3600
RETRY_GAP = int(timedelta(weeks=2).total_seconds()) // 8  # 8 retries spread over 2 weeks


def _customer(sdk, token="pm_card_visa"):
    cus = sdk.v1.customers.create({"name": "Contoso"})
    if token is not None:
        pm = sdk.v1.payment_methods.attach(token, {"customer": cus.id})
        sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _draft(sdk, customer_id, **params):
    inv = sdk.v1.invoices.create({"customer": customer_id, "currency": "eur", **params})
    sdk.v1.invoice_items.create(
        {"customer": customer_id, "invoice": inv.id, "amount": 5_000, "currency": "eur"}
    )
    return inv


def _at(clock, unix):
    clock.set(datetime.fromtimestamp(unix, UTC))


def _inv(sdk, inv_id):
    return sdk.v1.invoices.retrieve(inv_id)


def _wait_attempts(sdk, inv_id, attempts):
    wait_for(lambda: _inv(sdk, inv_id).attempt_count == attempts)


def _types(sdk, invoice_id):
    events = sdk.v1.events.list({"limit": 100}).data
    return [e.type for e in reversed(events) if e.data.object.id == invoice_id]


def test_the_first_attempt_comes_an_hour_after_finalizing(sdk, clock):
    cus = _customer(sdk)
    inv = sdk.v1.invoices.finalize_invoice(_draft(sdk, cus.id).id, {"auto_advance": True})
    finalized = inv.status_transitions.finalized_at
    assert (inv.status, inv.attempted) == ("open", False)
    assert inv.next_payment_attempt == finalized + HOUR
    _at(clock, finalized + HOUR - 60)
    time.sleep(0.3)  # a few automation rounds: nothing is due yet
    assert _inv(sdk, inv.id).status == "open"
    _at(clock, finalized + HOUR)
    wait_for(lambda: _inv(sdk, inv.id).status == "paid")
    paid = _inv(sdk, inv.id)
    assert (paid.attempt_count, paid.next_payment_attempt, paid.auto_advance) == (1, None, False)
    event = sdk.v1.events.list({"type": "invoice.paid"}).data[0]
    assert event.request.id is None  # Stripe's own action, no API request behind it


def test_failed_automatic_attempts_are_retried_8_times_over_2_weeks(sdk, clock):
    cus = _customer(sdk, "pm_card_chargeCustomerFail")
    inv = sdk.v1.invoices.finalize_invoice(_draft(sdk, cus.id).id, {"auto_advance": True})
    first = inv.next_payment_attempt
    _at(clock, first)
    wait_for(lambda: _inv(sdk, inv.id).attempt_count == 1)
    assert _inv(sdk, inv.id).next_payment_attempt == first + RETRY_GAP
    failed = sdk.v1.events.list({"type": "invoice.payment_failed"}).data[0].data.object
    assert failed.next_payment_attempt == first + RETRY_GAP  # more retries to come
    for retry in range(1, 9):
        _at(clock, first + retry * RETRY_GAP)
        _wait_attempts(sdk, inv.id, retry + 1)
    final = _inv(sdk, inv.id)
    assert (final.status, final.attempt_count, final.next_payment_attempt) == ("open", 9, None)
    assert len(sdk.v1.charges.list({"customer": cus.id, "limit": 100}).data) == 9
    last = sdk.v1.events.list({"type": "invoice.payment_failed"}).data[0].data.object
    assert last.next_payment_attempt is None  # Stripe stopped retrying


def test_a_manual_attempt_between_retries_moves_neither_count_nor_schedule(sdk, clock):
    cus = _customer(sdk, "pm_card_chargeCustomerFail")
    inv = sdk.v1.invoices.finalize_invoice(_draft(sdk, cus.id).id, {"auto_advance": True})
    _at(clock, inv.next_payment_attempt)
    wait_for(lambda: _inv(sdk, inv.id).attempt_count == 1)
    scheduled = _inv(sdk, inv.id).next_payment_attempt
    with pytest.raises(stripe.CardError):
        sdk.v1.invoices.pay(inv.id)
    after = _inv(sdk, inv.id)
    assert (after.attempt_count, after.next_payment_attempt) == (1, scheduled)


def test_after_a_hard_decline_retries_count_but_wait_for_a_new_payment_method(sdk, clock):
    cus = _customer(sdk, "pm_card_sandbox_fail_after_0_lost_card")
    inv = sdk.v1.invoices.finalize_invoice(_draft(sdk, cus.id).id, {"auto_advance": True})
    first = inv.next_payment_attempt
    _at(clock, first)
    wait_for(lambda: _inv(sdk, inv.id).attempt_count == 1)
    _at(clock, first + RETRY_GAP)
    wait_for(lambda: _inv(sdk, inv.id).attempt_count == 2)
    assert len(sdk.v1.charges.list({"customer": cus.id}).data) == 1  # the lost card: not again
    new = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    sdk.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": new.id}})
    _at(clock, first + 2 * RETRY_GAP)
    wait_for(lambda: _inv(sdk, inv.id).status == "paid")
    assert _inv(sdk, inv.id).attempt_count == 3


def test_with_no_payment_method_the_first_attempt_fails_without_a_charge(sdk, clock):
    cus = _customer(sdk, token=None)
    inv = sdk.v1.invoices.finalize_invoice(_draft(sdk, cus.id).id, {"auto_advance": True})
    _at(clock, inv.next_payment_attempt)
    wait_for(lambda: _inv(sdk, inv.id).attempt_count == 1)
    assert "invoice.payment_failed" in _types(sdk, inv.id)
    assert sdk.v1.charges.list({"customer": cus.id}).data == []


def test_a_draft_with_auto_advance_is_finalized_an_hour_after_creation(sdk, clock):
    cus = _customer(sdk)
    draft = _draft(sdk, cus.id, auto_advance=True)
    assert draft.automatically_finalizes_at == draft.created + HOUR
    _at(clock, draft.created + HOUR)
    wait_for(lambda: _inv(sdk, draft.id).status == "open")
    opened = _inv(sdk, draft.id)
    assert opened.automatically_finalizes_at is None
    assert opened.next_payment_attempt == opened.status_transitions.finalized_at + HOUR
    _at(clock, opened.next_payment_attempt)
    wait_for(lambda: _inv(sdk, draft.id).status == "paid")


def test_turning_auto_advance_off_cancels_the_scheduled_attempt(sdk, clock):
    cus = _customer(sdk)
    inv = sdk.v1.invoices.finalize_invoice(_draft(sdk, cus.id).id, {"auto_advance": True})
    off = sdk.v1.invoices.update(inv.id, {"auto_advance": False})
    assert off.next_payment_attempt is None
    _at(clock, inv.next_payment_attempt + HOUR)
    time.sleep(0.3)
    assert (_inv(sdk, inv.id).status, _inv(sdk, inv.id).attempted) == ("open", False)
    on = sdk.v1.invoices.update(inv.id, {"auto_advance": True})
    assert on.next_payment_attempt is not None
    wait_for(lambda: _inv(sdk, inv.id).status == "paid")


def test_an_automatically_advanced_sent_invoice_is_emailed_and_never_charged(sdk):
    cus = _customer(sdk)
    inv = sdk.v1.invoices.finalize_invoice(
        _draft(sdk, cus.id, collection_method="send_invoice", days_until_due=30).id,
        {"auto_advance": True},
    )
    assert inv.next_payment_attempt is None
    assert _types(sdk, inv.id)[-2:] == ["invoice.finalized", "invoice.sent"]


def test_the_retry_schedule_is_configurable(tmp_path, clock):
    schedule = BillingSchedule(retries=2, retry_window=timedelta(days=4))
    with running_sandbox(tmp_path, clock, schedule=schedule) as sb:
        sdk = client(sb.base_url)
        cus = _customer(sdk, "pm_card_chargeCustomerFail")
        inv = sdk.v1.invoices.finalize_invoice(_draft(sdk, cus.id).id, {"auto_advance": True})
        first = inv.next_payment_attempt
        assert first is not None
        _at(clock, first)
        wait_for(lambda: _inv(sdk, inv.id).attempt_count == 1)
        assert _inv(sdk, inv.id).next_payment_attempt == first + 2 * 86400
        _at(clock, first + 4 * 86400)  # a virtual clock that jumps is caught up step by step
        wait_for(lambda: _inv(sdk, inv.id).attempt_count == 3)
        assert _inv(sdk, inv.id).next_payment_attempt is None
