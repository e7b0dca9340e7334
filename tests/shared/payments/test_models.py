from datetime import UTC, datetime

import pytest
import stripe
from pydantic import ValidationError

from shared.payments.models import Card, ChargeLine, Decline, Invoice, expandable_id


def test_an_expandable_field_gives_its_id_whether_expanded_or_not():
    assert expandable_id("cus_1") == "cus_1"
    assert expandable_id({"id": "cus_2", "object": "customer"}) == "cus_2"
    assert expandable_id(stripe.Customer.construct_from({"id": "cus_3"}, "sk_test_x")) == "cus_3"
    assert expandable_id(None) is None


def _invoice(**over):
    base = {
        "id": "in_1",
        "customer_id": "cus_1",
        "status": "open",
        "number": "A-1",
        "currency": "jpy",
        "total": 5000,
        "amount_due": 5000,
        "amount_paid": 0,
        "amount_remaining": 5000,
        "attempted": False,
        "next_payment_attempt": None,
        "hosted_invoice_url": None,
        "created": 1767600000,
        "metadata": {},
    }
    return Invoice.model_validate(base | over)


def test_stripe_lower_case_currencies_become_iso_upper_case_and_seconds_utc_datetimes():
    inv = _invoice()
    assert inv.currency == "JPY"
    assert inv.created == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("amount", [12.5, 12.0, "12", True])
def test_an_amount_that_is_not_an_integer_of_minor_units_is_refused(amount):
    with pytest.raises(ValidationError):
        _invoice(amount_due=amount)
    with pytest.raises(ValidationError):
        ChargeLine(amount=amount, description="2 seats")


def test_a_card_is_valid_through_the_last_day_of_its_expiry_month():
    card = Card(
        payment_method_id="pm_1",
        customer_id=None,
        brand="visa",
        last4="4242",
        exp_month=2,
        exp_year=2026,
    )
    assert not card.expires_before(datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
    assert card.expires_before(datetime(2026, 3, 1, tzinfo=UTC))


def test_a_decline_from_an_error_object_is_classified_and_keeps_its_ids():
    decline = Decline.from_error(
        {
            "code": "card_declined",
            "decline_code": "lost_card",
            "message": "Your card was declined.",
            "charge": "ch_1",
            "payment_intent": {"id": "pi_1", "object": "payment_intent"},
        }
    )
    assert decline.decline_class == "hard"
    assert (decline.charge_id, decline.payment_intent_id) == ("ch_1", "pi_1")
