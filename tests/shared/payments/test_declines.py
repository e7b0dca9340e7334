"""Declines sort into soft / hard / needs-customer-action as Stripe's docs advise.

Each row cites the "Next steps" advice at https://docs.stripe.com/declines/codes (decline_code)
or https://docs.stripe.com/error-codes (code).
"""

import pytest

from shared.payments import DeclineClass, classify
from shared.payments.declines import ADVICE_CODES, DECLINE_CODES, ERROR_CODES

SOFT, HARD, ACT = DeclineClass.SOFT, DeclineClass.HARD, DeclineClass.NEEDS_CUSTOMER_ACTION


@pytest.mark.parametrize(
    ("code", "decline_code", "expected"),
    [
        # insufficient_funds: funds can return; Smart Retries retry it (docs.stripe.com/billing/revenue-recovery/smart-retries)
        ("card_declined", "insufficient_funds", SOFT),
        # "processing_error: The payment should be attempted again."
        ("processing_error", "processing_error", SOFT),
        # "try_again_later: Ask the customer to attempt the payment again."
        ("card_declined", "try_again_later", SOFT),
        # "generic_decline: ... contact their card issuer" - Smart Retries retries it
        ("card_declined", "generic_decline", SOFT),
        # "lost_card / stolen_card: ... don't report more detailed information" - never retry
        ("card_declined", "lost_card", HARD),
        ("card_declined", "stolen_card", HARD),
        # "expired_card: The customer should use another card."
        ("expired_card", "expired_card", HARD),
        # "pickup_card: The customer needs to use a different card"
        ("card_declined", "pickup_card", HARD),
        # "do_not_try_again: ... contact their card issuer" - Stripe says do not retry
        ("card_declined", "do_not_try_again", HARD),
        # "incorrect_cvc: The customer should try again using the correct CVC."
        ("incorrect_cvc", "incorrect_cvc", ACT),
        # "authentication_required: ... the customer needs to return to complete authentication"
        ("card_declined", "authentication_required", ACT),
        # error code when an invoice's PaymentIntent needs 3-D Secure
        ("invoice_payment_intent_requires_action", None, ACT),
        # "call_issuer: The customer needs to contact their card issuer for more information."
        ("card_declined", "call_issuer", ACT),
        # "transaction_not_allowed: The customer needs to contact their card issuer"
        ("card_declined", "transaction_not_allowed", ACT),
        # highest_risk_level: on Smart Retries' non-retryable list
        ("card_declined", "highest_risk_level", HARD),
    ],
)
def test_decline_codes_map_to_the_dunning_class_stripe_advises(code, decline_code, expected):
    assert classify(decline_code, code) is expected


def test_the_decline_code_wins_over_the_generic_error_code():
    assert classify("stolen_card", "card_declined") is HARD


def test_an_unknown_decline_falls_back_to_the_error_code_then_to_soft():
    assert classify("something_new", "expired_card") is HARD
    assert classify(None, "something_new") is SOFT
    assert classify(None) is SOFT


@pytest.mark.parametrize(
    ("decline_code", "advice_code", "expected"),
    [
        # advice codes, docs.stripe.com/declines/card#retrying-issuer-declines
        ("insufficient_funds", "do_not_try_again", HARD),
        ("generic_decline", "confirm_card_data", ACT),
        ("lost_card", "try_again_later", HARD),  # advice never softens a hard decline
        ("insufficient_funds", "try_again_later", SOFT),
        ("insufficient_funds", "unheard_of", SOFT),
    ],
)
def test_an_advice_code_can_only_make_the_class_stricter(decline_code, advice_code, expected):
    assert classify(decline_code, "card_declined", advice_code) is expected


def test_the_tables_use_only_the_three_classes():
    tables = (DECLINE_CODES, ERROR_CODES, ADVICE_CODES)
    assert set().union(*(t.values() for t in tables)) <= set(DeclineClass)
    assert {c.value for c in DeclineClass} == {"soft", "hard", "needs_customer_action"}
