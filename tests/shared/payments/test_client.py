"""The payments adapter against the Stripe sandbox, through the real SDK code paths."""

from datetime import UTC, datetime

import pytest
import requests

from shared.config import Settings
from shared.payments import (
    PARTNER_CUSTOMER_KEY,
    ChargeLine,
    PaymentRejected,
    PaymentsUnavailable,
    StripePayments,
)
from tests.sandbox.stripe.harness import API_KEY, client


def _customer(payments, step="onboard-1"):
    return payments.create_customer(
        f"{step}:customer", partner_customer_id="cust-42", name="Contoso", email="ap@contoso.com"
    )


def _with_card(payments, token="pm_card_visa", step="onboard-1"):
    cus = _customer(payments, step)
    outcome = payments.attach_payment_method(f"{step}:card", cus.id, token)
    assert outcome.ok, outcome.decline
    return cus, outcome.card


def _open_invoice(payments, customer_id, amount=12_000, step="bill-2026-01"):
    inv = payments.create_invoice(step, customer_id, currency="EUR", description="January")
    payments.add_invoice_item(
        step,
        customer_id,
        invoice_id=inv.id,
        amount=amount,
        currency="EUR",
        description="M365 E3 x 5",
    )
    return payments.finalize_invoice(step, inv.id)


def test_a_customer_carries_the_partner_customer_id_in_metadata(payments, sandbox):
    cus = _customer(payments)
    assert cus.partner_customer_id == "cust-42"
    raw = client(sandbox.base_url).v1.customers.retrieve(cus.id).to_dict()
    assert raw["metadata"][PARTNER_CUSTOMER_KEY] == "cust-42"
    assert payments.get_customer(cus.id) == cus


def test_every_customer_is_read_across_pages_newest_first(payments):
    made = [
        payments.create_customer(f"list-{n}", partner_customer_id=f"c-{n}", name=f"N{n}").id
        for n in range(5)
    ]
    listed = list(payments.all_customers(page_size=2))
    assert [c.id for c in listed] == made[::-1]
    assert [c.partner_customer_id for c in listed] == [f"c-{n}" for n in range(4, -1, -1)]


def test_a_retried_customer_creation_returns_the_same_customer(payments, sandbox):
    first = _customer(payments)
    again = _customer(payments)
    assert again.id == first.id
    assert len(client(sandbox.base_url).v1.customers.list().data) == 1


def test_update_customer_changes_name_email_and_metadata(payments):
    cus = _customer(payments)
    updated = payments.update_customer(
        "rename-1",
        cus.id,
        name="Contoso Ltd",
        email="billing@contoso.com",
        metadata={"tier": "gold"},
    )
    assert (updated.name, updated.email) == ("Contoso Ltd", "billing@contoso.com")
    assert updated.metadata == {PARTNER_CUSTOMER_KEY: "cust-42", "tier": "gold"}


def test_attaching_a_card_makes_it_the_default_for_invoices(payments):
    cus, card = _with_card(payments)
    assert card.is_default and card.last4 == "4242"
    assert payments.get_customer(cus.id).default_payment_method_id == card.payment_method_id


def test_a_refused_card_comes_back_as_a_classified_decline(payments):
    cus = _customer(payments)
    outcome = payments.attach_payment_method("card-2", cus.id, "pm_card_chargeDeclinedStolenCard")
    assert not outcome.ok
    assert outcome.decline is not None
    assert outcome.decline.decline_class == "hard"
    assert outcome.decline.decline_code == "stolen_card"


def test_list_cards_shows_expiry_and_the_default(payments):
    cus, card = _with_card(payments)
    payments.attach_payment_method(
        "card-2", cus.id, "pm_card_sandbox_expires_2026_03", make_default=False
    )
    cards = payments.list_cards(cus.id)
    assert len(cards) == 2
    expiring = next(c for c in cards if c.exp_year == 2026)
    assert (expiring.exp_month, expiring.is_default) == (3, False)
    assert expiring.expires_before(datetime(2026, 4, 1, tzinfo=UTC))
    assert not expiring.expires_before(datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    assert next(c for c in cards if c.is_default).payment_method_id == card.payment_method_id


def test_an_invoice_goes_from_draft_to_open_to_paid(payments):
    cus, _ = _with_card(payments)
    inv = payments.create_invoice("bill-1", cus.id, currency="EUR", metadata={"period": "2026-01"})
    assert (inv.status, inv.currency, inv.total) == ("draft", "EUR", 0)
    item = payments.add_invoice_item(
        "bill-1",
        cus.id,
        invoice_id=inv.id,
        amount=12_000,
        currency="EUR",
        description="M365 E3 x 5",
        period=(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
    )
    assert (item.invoice_id, item.amount) == (inv.id, 12_000)
    opened = payments.finalize_invoice("bill-1", inv.id)
    assert opened.status == "open" and opened.amount_due == 12_000 and opened.number
    outcome = payments.pay_invoice("bill-1:attempt-1", inv.id)
    assert outcome.paid and outcome.decline is None
    assert outcome.invoice.amount_paid == 12_000 and outcome.invoice.amount_remaining == 0
    assert outcome.payment_intent_id is not None and outcome.payment_intent_id.startswith("pi_")


def test_a_retried_payment_with_the_same_step_key_charges_once(payments, sandbox):
    cus, _ = _with_card(payments)
    inv = _open_invoice(payments, cus.id)
    first = payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    again = payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    assert first.paid and again.paid
    charges = client(sandbox.base_url).v1.charges.list({"customer": cus.id}).data
    assert len(charges) == 1 and charges[0].amount == 12_000


CODES = "https://docs.stripe.com/declines/codes"
NON_RETRYABLE = "https://docs.stripe.com/billing/revenue-recovery/smart-retries"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param("insufficient_funds", "soft", id=f"{CODES}: insufficient_funds"),
        pytest.param("processing_error", "soft", id=f"{CODES}: processing_error, try again"),
        pytest.param("lost_card", "hard", id=f"{NON_RETRYABLE}: lost_card non-retryable"),
        pytest.param("expired_card", "hard", id=f"{CODES}: expired_card, use another card"),
        pytest.param("incorrect_cvc", "needs_customer_action", id=f"{CODES}: correct CVC"),
    ],
)
def test_a_failed_payment_yields_its_decline_class(payments, reason, expected):
    cus, _ = _with_card(payments, f"pm_card_sandbox_fail_after_0_{reason}")
    inv = _open_invoice(payments, cus.id)
    outcome = payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    assert not outcome.paid
    assert outcome.decline is not None
    assert outcome.decline.decline_class is expected
    assert reason in (outcome.decline.decline_code, outcome.decline.code)
    assert outcome.decline.charge_id is not None and outcome.decline.charge_id.startswith("ch_")
    assert outcome.invoice.status == "open" and outcome.attempts == 1
    assert payments.last_decline(inv.id) == outcome.decline


TESTING = "https://docs.stripe.com/testing#declined-payments"


@pytest.mark.parametrize(
    ("token", "decline_code", "expected"),
    [
        pytest.param("pm_card_chargeDeclined", "generic_decline", "soft", id=f"{TESTING}: 0002"),
        pytest.param(
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "soft",
            id=f"{TESTING}: 9995",
        ),
        pytest.param("pm_card_chargeDeclinedLostCard", "lost_card", "hard", id=f"{TESTING}: 9987"),
        pytest.param(
            "pm_card_chargeDeclinedStolenCard", "stolen_card", "hard", id=f"{TESTING}: 9979"
        ),
        pytest.param("pm_card_chargeDeclinedExpiredCard", None, "hard", id=f"{TESTING}: 0069"),
        pytest.param(
            "pm_card_chargeDeclinedIncorrectCvc",
            None,
            "needs_customer_action",
            id=f"{TESTING}: 0127",
        ),
        pytest.param("pm_card_chargeDeclinedProcessingError", None, "soft", id=f"{TESTING}: 0119"),
    ],
)
def test_paying_with_a_documented_decline_card_yields_its_decline_class(
    payments, token, decline_code, expected
):
    cus, _ = _with_card(payments)
    inv = _open_invoice(payments, cus.id)
    outcome = payments.pay_invoice("bill-2026-01:attempt-1", inv.id, payment_method_id=token)
    assert not outcome.paid and outcome.decline is not None
    assert outcome.decline.decline_code == decline_code
    assert outcome.decline.decline_class == expected


def test_a_card_needing_authentication_needs_the_customer(payments):
    cus, _ = _with_card(payments, "pm_card_authenticationRequired")
    inv = _open_invoice(payments, cus.id)
    outcome = payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    assert outcome.decline is not None
    assert outcome.decline.decline_class == "needs_customer_action"


def test_a_retry_with_a_new_card_after_a_decline_collects_the_invoice(payments):
    cus, _ = _with_card(payments, "pm_card_chargeCustomerFail")
    inv = _open_invoice(payments, cus.id)
    assert not payments.pay_invoice("bill-2026-01:attempt-1", inv.id).paid
    new = payments.attach_payment_method("card-update-1", cus.id, "pm_card_mastercard")
    assert new.card is not None
    retry = payments.pay_invoice("bill-2026-01:attempt-2", inv.id)
    assert retry.paid and retry.attempts == 2


def test_the_pay_link_of_a_failed_invoice_lets_the_customer_pay(payments):
    cus, _ = _with_card(payments, "pm_card_chargeCustomerFail")
    inv = _open_invoice(payments, cus.id)
    payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    link = payments.pay_link(inv.id)
    assert link.endswith(f"/i/{inv.id}")
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and "open" in page.text
    paid = requests.post(link, data={"payment_method": "pm_card_visa"}, timeout=10)
    assert paid.status_code == 200
    assert payments.get_invoice(inv.id).status == "paid"
    with pytest.raises(PaymentRejected):
        payments.pay_link(inv.id)


def test_charge_now_bills_a_prorated_change_in_one_idempotent_step(payments, sandbox):
    cus, _ = _with_card(payments)
    lines = [
        ChargeLine(amount=1_935, description="2 x M365 E3, 18 of 31 days"),
        ChargeLine(amount=-500, description="Promotion"),
    ]
    first = payments.charge_now(
        "change-7:prorate", cus.id, currency="EUR", lines=lines, description="Seat increase"
    )
    again = payments.charge_now(
        "change-7:prorate", cus.id, currency="EUR", lines=lines, description="Seat increase"
    )
    assert first.paid and first.invoice.total == 1_435
    assert again.invoice.id == first.invoice.id
    assert len(client(sandbox.base_url).v1.charges.list({"customer": cus.id}).data) == 1


def test_a_credit_note_on_a_paid_invoice_refunds_the_card(payments, sandbox):
    cus, _ = _with_card(payments)
    outcome = payments.charge_now(
        "change-8",
        cus.id,
        currency="EUR",
        lines=[ChargeLine(amount=3_000, description="3 seats")],
        description="Seats",
    )
    note = payments.credit_invoice(
        "decrease-8", outcome.invoice.id, amount=1_000, description="1 seat, day 3"
    )
    assert (note.type, note.amount, note.currency) == ("post_payment", 1_000, "EUR")
    assert len(note.refund_ids) == 1
    charge = client(sandbox.base_url).v1.charges.list({"customer": cus.id}).data[0]
    assert charge.amount_refunded == 1_000


def test_a_credit_note_on_an_open_invoice_lowers_what_is_due(payments):
    cus, _ = _with_card(payments, "pm_card_chargeCustomerFail")
    inv = _open_invoice(payments, cus.id)
    note = payments.credit_invoice("decrease-9", inv.id, amount=2_000, description="Seat removed")
    assert note.type == "pre_payment" and note.refund_ids == ()
    assert payments.get_invoice(inv.id).amount_remaining == 10_000


def test_a_credit_note_larger_than_the_invoice_is_rejected_naming_the_field(payments):
    cus, _ = _with_card(payments)
    inv = _open_invoice(payments, cus.id, amount=1_000)
    with pytest.raises(PaymentRejected) as info:
        payments.credit_invoice("decrease-10", inv.id, amount=5_000, description="too much")
    assert info.value.status == 400 and info.value.param == "amount"


def test_refund_payment_refunds_part_of_a_payment(payments):
    cus, _ = _with_card(payments)
    outcome = payments.charge_now(
        "change-11",
        cus.id,
        currency="EUR",
        lines=[ChargeLine(amount=2_000, description="x")],
        description="x",
    )
    assert outcome.payment_intent_id is not None
    refund = payments.refund_payment("refund-11", outcome.payment_intent_id, amount=500)
    assert (refund.amount, refund.currency, refund.status) == (500, "EUR", "succeeded")
    assert refund.payment_intent_id == outcome.payment_intent_id
    with pytest.raises(PaymentRejected):
        payments.refund_payment("refund-12", outcome.payment_intent_id, amount=5_000)


def test_void_invoice_closes_an_open_invoice(payments):
    cus, _ = _with_card(payments)
    inv = _open_invoice(payments, cus.id)
    assert payments.void_invoice("void-1", inv.id).status == "void"


def test_mark_uncollectible_writes_an_open_invoice_off_once_and_it_stays_payable(payments):
    # https://docs.stripe.com/api/invoices/mark_uncollectible
    cus, _ = _with_card(payments)
    inv = _open_invoice(payments, cus.id)
    assert payments.mark_uncollectible("write-off-1", inv.id).status == "uncollectible"
    assert payments.mark_uncollectible("write-off-1", inv.id).status == "uncollectible"
    assert payments.pay_invoice("late-pay-1", inv.id).paid


def test_the_same_step_key_reused_for_different_content_is_rejected(payments):
    cus, _ = _with_card(payments)
    payments.create_invoice("bill-x", cus.id, currency="EUR", description="one")
    with pytest.raises(PaymentRejected) as info:
        payments.create_invoice("bill-x", cus.id, currency="EUR", description="two")
    assert (info.value.status, info.value.code) == (400, "idempotency_error")  # as Stripe answers


def test_an_unknown_invoice_is_rejected_as_missing(payments):
    with pytest.raises(PaymentRejected) as info:
        payments.get_invoice("in_nope")
    assert info.value.status == 404 and info.value.code == "resource_missing"


def test_an_unreachable_stripe_is_a_transient_error(tmp_path):
    unreachable = StripePayments(API_KEY, "http://127.0.0.1:9", max_network_retries=0)
    with pytest.raises(PaymentsUnavailable):
        unreachable.get_invoice("in_x")


def test_an_empty_step_key_is_refused_before_anything_is_sent(payments):
    with pytest.raises(ValueError):
        payments.create_customer(" ", partner_customer_id="c", name="n")


def test_the_adapter_is_built_from_settings(sandbox, monkeypatch):
    monkeypatch.setenv("CSPFLOW_STRIPE_API_BASE", sandbox.base_url)
    monkeypatch.setenv("CSPFLOW_STRIPE_API_KEY", API_KEY)
    settings = Settings()
    payments = StripePayments.from_settings(settings)
    assert _customer(payments).name == "Contoso"


def test_a_retry_after_the_customer_paid_through_the_link_reports_paid(payments):
    cus, _ = _with_card(payments, "pm_card_chargeCustomerFail")
    inv = _open_invoice(payments, cus.id)
    payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    requests.post(payments.pay_link(inv.id), data={"payment_method": "pm_card_visa"}, timeout=10)
    retry = payments.pay_invoice("bill-2026-01:attempt-2", inv.id)
    assert retry.paid and retry.decline is None


def test_paying_a_void_invoice_is_rejected(payments):
    cus, _ = _with_card(payments)
    inv = _open_invoice(payments, cus.id)
    payments.void_invoice("void-2", inv.id)
    with pytest.raises(PaymentRejected):
        payments.pay_invoice("bill-2026-01:attempt-1", inv.id)


def test_a_sent_invoice_is_due_days_after_finalization(payments):
    cus = _customer(payments)
    inv = payments.create_invoice("annual-1", cus.id, currency="EUR", days_until_due=30)
    payments.add_invoice_item(
        "annual-1", cus.id, invoice_id=inv.id, amount=99_000, currency="EUR", description="Annual"
    )
    opened = payments.finalize_invoice("annual-1", inv.id)
    assert opened.status == "open" and opened.hosted_invoice_url is not None


def test_paying_with_a_named_card_uses_that_card(payments, sandbox):
    cus, _ = _with_card(payments, "pm_card_chargeCustomerFail")
    other = payments.attach_payment_method("card-3", cus.id, "pm_card_amex", make_default=False)
    assert other.card is not None
    inv = _open_invoice(payments, cus.id)
    outcome = payments.pay_invoice(
        "bill-2026-01:attempt-1", inv.id, payment_method_id=other.card.payment_method_id
    )
    assert outcome.paid
    charge = client(sandbox.base_url).v1.charges.list({"customer": cus.id}).data[0]
    assert charge.payment_method == other.card.payment_method_id


def test_no_decline_is_reported_before_a_failed_attempt(payments):
    cus, _ = _with_card(payments)
    inv = _open_invoice(payments, cus.id)
    assert payments.last_decline(inv.id) is None
    payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    assert payments.last_decline(inv.id) is None


def test_a_credit_on_a_paid_invoice_can_go_to_the_customer_balance(payments):
    cus, _ = _with_card(payments)
    outcome = payments.charge_now(
        "change-13",
        cus.id,
        currency="EUR",
        lines=[ChargeLine(amount=2_000, description="x")],
        description="x",
    )
    note = payments.credit_invoice(
        "decrease-13", outcome.invoice.id, amount=800, description="x", refund=False
    )
    assert note.refund_ids == ()
    assert payments.get_customer(cus.id).balance == -800


def test_a_charge_without_lines_or_an_api_key_is_refused_locally(payments):
    with pytest.raises(ValueError):
        payments.charge_now("x", "cus_x", currency="EUR", lines=[], description="x")
    with pytest.raises(ValueError):
        StripePayments("", "http://127.0.0.1:1")


def test_amounts_must_be_integer_minor_units(payments):
    cus = _customer(payments)
    with pytest.raises(TypeError):
        payments.add_invoice_item(
            "x", cus.id, invoice_id=None, amount=12.5, currency="EUR", description="x"
        )


def test_outcomes_survive_the_json_round_trip_of_a_durable_boundary(payments):
    from shared.payments import PaymentOutcome

    cus, _ = _with_card(payments, "pm_card_sandbox_fail_after_0_insufficient_funds")
    inv = _open_invoice(payments, cus.id)
    outcome = payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    assert PaymentOutcome.model_validate(outcome.model_dump(mode="json")) == outcome


def test_a_card_update_link_saves_a_new_card_that_becomes_the_default(payments, sandbox, clock):
    from datetime import timedelta

    cus, old = _with_card(payments, "pm_card_chargeCustomerFail")
    link = payments.card_update_link(
        "dunning-7:card-link",
        cus.id,
        success_url="https://portal.example/thanks",
        metadata={"case": "7"},
    )
    assert link.url.endswith(link.session_id) and link.expires_at == clock.now() + timedelta(days=1)
    refused = requests.post(
        link.url, data={"payment_method": "pm_card_chargeDeclinedStolenCard"}, timeout=10
    )
    assert refused.status_code == 402 and "declined" in refused.text
    saved = requests.post(link.url, data={"payment_method": "pm_card_mastercard"}, timeout=10)
    assert saved.status_code == 200 and "portal.example/thanks" in saved.text
    session = client(sandbox.base_url).v1.checkout.sessions.retrieve(link.session_id)
    assert session.status == "complete" and session.setup_intent is not None
    card = payments.complete_card_update("dunning-7:card-default", expandable(session.setup_intent))
    assert (
        card.is_default and card.last4 == "4444" and card.payment_method_id != old.payment_method_id
    )
    assert payments.get_customer(cus.id).default_payment_method_id == card.payment_method_id


def test_completing_a_card_update_that_saved_nothing_is_rejected(payments, sandbox):
    cus = _customer(payments)
    link = payments.card_update_link(
        "dunning-8:card-link", cus.id, success_url="https://portal.example/ok"
    )
    session = client(sandbox.base_url).v1.checkout.sessions.retrieve(link.session_id)
    with pytest.raises(PaymentRejected) as info:
        payments.complete_card_update("dunning-8:card-default", expandable(session.setup_intent))
    assert info.value.code == "setup_intent_unexpected_state"


def test_a_card_update_link_expires_after_a_day_of_shared_time(payments, clock):
    from datetime import timedelta

    cus = _customer(payments)
    link = payments.card_update_link(
        "dunning-9:card-link", cus.id, success_url="https://portal.example/ok"
    )
    clock.advance(timedelta(days=1))
    page = requests.get(link.url, timeout=10)
    assert "expired" in page.text
    assert (
        requests.post(link.url, data={"payment_method": "pm_card_visa"}, timeout=10).status_code
        == 400
    )


def expandable(value):
    from shared.payments.models import expandable_id

    result = expandable_id(value)
    assert result is not None
    return result


# Money at the boundary: the domain hands shared.models.money.Money; its currency travels with
# the amount, so a mismatch or a typo is refused before anything reaches Stripe.
def test_money_from_the_domain_bills_in_its_own_minor_units(payments):
    from fractions import Fraction

    from shared.models.money import Money

    cus, _ = _with_card(payments)
    seat = Money(amount_minor=3_225, currency="EUR")
    prorated = (seat * 2).scaled(Fraction(18, 31))  # 2 seats for 18 of 31 days: 3745.16 -> 3745
    outcome = payments.charge_now(
        "change-20",
        cus.id,
        currency="EUR",
        lines=[ChargeLine.of(prorated, "2 x M365 E3, 18 of 31 days")],
        description="Seat increase",
    )
    assert outcome.paid and outcome.invoice.total == prorated.amount_minor == 3_745
    inv = payments.create_invoice("bill-20", cus.id, currency="JPY")
    item = payments.add_invoice_item(
        "bill-20",
        cus.id,
        invoice_id=inv.id,
        amount=Money(amount_minor=1_200, currency="JPY"),
        description="yen have no minor unit",
    )
    assert (item.amount, item.currency) == (1_200, "JPY")
    note = payments.credit_invoice(
        "decrease-20",
        outcome.invoice.id,
        amount=Money(amount_minor=745, currency="EUR"),
        description="1 seat",
    )
    assert (note.amount, note.currency) == (745, "EUR")
    assert outcome.payment_intent_id is not None
    refund = payments.refund_payment(
        "refund-20", outcome.payment_intent_id, amount=Money(amount_minor=100, currency="EUR")
    )
    assert (refund.amount, refund.currency) == (100, "EUR")


def test_money_in_another_currency_is_refused_before_anything_is_sent(payments, sandbox):
    from shared.models.money import CurrencyMismatchError, Money

    cus, _ = _with_card(payments)
    usd = Money(amount_minor=500, currency="USD")
    with pytest.raises(CurrencyMismatchError):
        payments.charge_now(
            "change-21", cus.id, currency="EUR", lines=[ChargeLine.of(usd, "x")], description="x"
        )
    with pytest.raises(CurrencyMismatchError):
        payments.add_invoice_item(
            "x", cus.id, invoice_id=None, amount=usd, currency="EUR", description="x"
        )
    sdk = client(sandbox.base_url)
    assert sdk.v1.invoices.list({"customer": cus.id}).data == []
    assert sdk.v1.invoice_items.list({"customer": cus.id}).data == []
    paid = payments.charge_now(
        "change-22",
        cus.id,
        currency="EUR",
        lines=[ChargeLine(amount=900, description="x")],
        description="x",
    )
    with pytest.raises(CurrencyMismatchError):
        payments.credit_invoice("decrease-22", paid.invoice.id, amount=usd, description="x")
    assert paid.payment_intent_id is not None
    with pytest.raises(CurrencyMismatchError):
        payments.refund_payment("refund-22", paid.payment_intent_id, amount=usd)
    assert sdk.v1.credit_notes.list({"invoice": paid.invoice.id}).data == []
    assert sdk.v1.refunds.list().data == []


def test_a_currency_typo_or_an_int_without_currency_is_refused_locally(payments, sandbox):
    cus = _customer(payments)
    with pytest.raises(ValueError, match="EUD"):
        payments.create_invoice("bill-23", cus.id, currency="EUD")
    with pytest.raises(ValueError, match="currency"):
        payments.add_invoice_item("x", cus.id, invoice_id=None, amount=100, description="x")
    assert client(sandbox.base_url).v1.invoices.list({"customer": cus.id}).data == []


ATTEMPT_COUNT = "https://docs.stripe.com/api/invoices/object#invoice_object-attempt_count"


def test_attempts_are_counted_from_charges_not_from_stripes_attempt_count(payments, sandbox):
    """ATTEMPT_COUNT: after the first attempt only Stripe's automatic retries raise
    `attempt_count`, so cspflow's own retries leave it at 1; the adapter counts charges."""
    cus, _ = _with_card(payments, "pm_card_chargeCustomerFail")
    inv = _open_invoice(payments, cus.id)
    outcomes = [payments.pay_invoice(f"bill-2026-01:attempt-{n}", inv.id) for n in (1, 2, 3)]
    assert [o.attempts for o in outcomes] == [1, 2, 3]
    assert payments.payment_attempts(inv.id) == 3
    assert client(sandbox.base_url).v1.invoices.retrieve(inv.id).attempt_count == 1
    assert payments.payment_attempts(_open_invoice(payments, cus.id, step="bill-2026-02").id) == 0


ADVICE = "https://docs.stripe.com/declines/card#retrying-issuer-declines"


def test_the_issuers_advice_reaches_the_decline_and_can_make_it_hard(payments, sandbox):
    """ADVICE: the issuer's advice code comes with some declines (scripted here for the
    customer); do_not_try_again makes an otherwise soft do_not_honor hard."""
    cus, _ = _with_card(payments)
    requests.post(
        f"{sandbox.base_url}/_sandbox/declines",
        data={
            "customer": cus.id,
            "decline_code": "do_not_honor",
            "advice_code": "do_not_try_again",
            "times": "1",
        },
        timeout=10,
    ).raise_for_status()
    inv = _open_invoice(payments, cus.id)
    outcome = payments.pay_invoice("bill-2026-01:attempt-1", inv.id)
    assert outcome.decline is not None
    assert (outcome.decline.decline_code, outcome.decline.advice_code) == (
        "do_not_honor",
        "do_not_try_again",
    )
    assert outcome.decline.decline_class == "hard"
    assert payments.pay_invoice("bill-2026-01:attempt-2", inv.id).paid  # the script is used up
